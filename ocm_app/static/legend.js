// The map's legend control (a Jinja template: `this` is the ocm_app.mapbuilder element; see _template there).
(function() {
    var legend = L.control({position: 'bottomright'});
    legend.onAdd = function() {
        var div = L.DomUtil.create('div', 'ocm-legend leaflet-control');
        div.innerHTML = {{ this.inner_html }};
        L.DomEvent.disableClickPropagation(div);
        return div;
    };
    legend.addTo({{ this._parent.get_name() }});
})();

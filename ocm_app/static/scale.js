// The scale bar (metres, or pixels on a local grid of unknown size) (a Jinja template: `this` is the ocm_app.mapbuilder element; see _template there).
(function() {
    // Metric bar where the drawn grid has true ground distances (a CRS, or a known pixel size);
    // a bar in pixels on a local grid of unknown pixel size (1 unit per pixel; Leaflet measures
    // on a 6371 km sphere, Web Mercator's unit is 1/6378137 of its radius: hence the factor).
    var map = {{ this._parent.get_name() }};
    var options = {position: 'bottomleft', imperial: false, metric: true, maxWidth: 120};
    {% if this.unit == 'px' %}
    var Pixels = L.Control.Scale.extend({
        _updateMetric: function(maxMeters) {
            var pixels = maxMeters * 6378137 / 6371000, n = this._getRoundNum(pixels);
            this._updateScale(this._mScale, n + ' px', n / pixels);
        }
    });
    var scale = new Pixels(options);
    {% else %}
    var scale = L.control.scale(options);
    {% endif %}
    scale.addTo(map);
    scale.getContainer().classList.add('ocm-scale-' + {{ this.unit|tojson }});
    scale.getContainer().title = {{ this.note|tojson }};
})();

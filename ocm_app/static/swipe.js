// The split (swipe) view (a Jinja template: `this` is the ocm_app.mapbuilder element; see _template there).
(function() {
    var map = {{ this._parent.get_name() }};
    var pane = map.getPane({{ this.pane|tojson }});
    var box = L.DomUtil.create('div', 'ocm-swipe leaflet-control', map.getContainer());
    var divider = L.DomUtil.create('div', 'ocm-swipe-divider', map.getContainer());
    var range = L.DomUtil.create('input', 'ocm-swipe-range', box);
    range.type = 'range'; range.min = 0; range.max = 1; range.step = 0.001; range.value = 0.5;
    range.setAttribute('aria-label', 'Swipe between ' + {{ this.left|tojson }} + ' and ' + {{ this.right|tojson }});
    var labels = L.DomUtil.create('div', 'ocm-swipe-labels', box);
    labels.innerHTML = '<span>&#9664; ' + {{ this.left|tojson }} + '</span><span>'
        + {{ this.right|tojson }} + ' &#9654;</span>';
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.on(range, 'pointerdown mousedown touchstart', function() { map.dragging.disable(); });
    L.DomEvent.on(document, 'pointerup mouseup touchend', function() { map.dragging.enable(); });
    function update() {
        var size = map.getSize();
        var x = size.x * parseFloat(range.value);
        divider.style.left = x + 'px';
        var nw = map.containerPointToLayerPoint([0, 0]);
        var se = map.containerPointToLayerPoint(size);
        pane.style.clip = 'rect(' + [nw.y, se.x, se.y, nw.x + x].join('px,') + 'px)';
    }
    L.DomEvent.on(range, 'input change', update);
    map.on('move zoom zoomend resize viewreset', update);
    update();
})();

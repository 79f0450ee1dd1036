// Fit, remembered view, opacity slider and basemap-failure notice (a Jinja template: `this` is the ocm_app.mapbuilder element; see _template there).
(function() {
    // Fit to the scene once the map has a size (a map in a hidden tab has none), restore the
    // view, visible layers and opacity the user left on this scene (sessionStorage, per tab),
    // drive the opacity slider and report basemap tiles that fail to load.
    var map = {{ this._parent.get_name() }};
    var bounds = L.latLngBounds({{ this.bounds|tojson }});
    var key = 'ocm-map:' + {{ this.state_key|tojson }};
    var layers = {
        {%- for name, var in this.layers %}
        {{ name|tojson }}: {{ var }},
        {%- endfor %}
    };
    var adjustable = {{ this.adjustable|tojson }};
    var store = null;
    try { store = window.sessionStorage; store.getItem('x'); } catch (e) { store = null; }
    function load() {
        if (!store) { return null; }
        try { return JSON.parse(store.getItem(key) || 'null'); } catch (e) { return null; }
    }
    var saved = load() || {};
    var ready = false;
    function save() {
        if (!ready || !store) { return; }
        var c = map.getCenter();
        var shown = Object.keys(layers).filter(function(n) { return map.hasLayer(layers[n]); });
        saved = {center: [c.lat, c.lng], zoom: map.getZoom(), shown: shown, opacity: saved.opacity};
        try { store.setItem(key, JSON.stringify(saved)); } catch (e) { /* storage full: keep going */ }
    }
    function setOpacity(value) {
        adjustable.forEach(function(n) { if (layers[n]) { layers[n].setOpacity(value); } });
    }
    if (saved.shown) {
        Object.keys(layers).forEach(function(n) {
            var want = saved.shown.indexOf(n) >= 0;
            if (want && !map.hasLayer(layers[n])) { layers[n].addTo(map); }
            if (!want && map.hasLayer(layers[n])) { map.removeLayer(layers[n]); }
        });
    }
    if (adjustable.length) {
        var start = typeof saved.opacity === 'number' ? saved.opacity : {{ this.opacity }};
        setOpacity(start);
        var box = L.control({position: 'topright'});
        box.onAdd = function() {
            var div = L.DomUtil.create('div', 'ocm-opacity leaflet-control');
            div.innerHTML = '<label>Mask opacity <input type="range" min="0" max="1" step="0.05"></label>';
            var input = div.querySelector('input');
            input.value = start;
            input.setAttribute('aria-label', 'Mask opacity');
            L.DomEvent.disableClickPropagation(div);
            L.DomEvent.on(input, 'input change', function() {
                setOpacity(parseFloat(input.value));
                saved.opacity = parseFloat(input.value);
                save();
            });
            return div;
        };
        box.addTo(map);
    }
    function place() {
        var size = map.getSize();
        if (!size.x || !size.y) { return false; }
        map.invalidateSize({animate: false});
        if (saved.center && typeof saved.zoom === 'number') {
            map.setView(saved.center, saved.zoom, {animate: false});
        } else {
            map.fitBounds(bounds, {paddingTopLeft: [6, {{ this.top_px }}], paddingBottomRight: [6, 6], animate: false});
        }
        ready = true;
        return true;
    }
    if (!place()) {
        var watch = function() { if (!ready && place()) { window.removeEventListener('resize', watch); } };
        window.addEventListener('resize', watch);
        if (window.ResizeObserver) {
            var observer = new ResizeObserver(function() { if (!ready && place()) { observer.disconnect(); } });
            observer.observe(map.getContainer());
        }
    }
    map.on('moveend zoomend overlayadd overlayremove', save);
    var notice = null;
    map.eachLayer(function(layer) {
        if (!(layer instanceof L.TileLayer)) { return; }
        layer.on('tileerror', function() {
            if (notice) { return; }
            notice = L.control({position: 'bottomleft'});
            notice.onAdd = function() {
                var div = L.DomUtil.create('div', 'ocm-notice leaflet-control');
                div.textContent = 'Basemap tiles could not be loaded (no internet connection?). '
                    + 'The scene layers are drawn by the app and still work.';
                return div;
            };
            notice.addTo(map);
        });
    });
    window.ocmMap = map;
    window.ocmSceneBounds = bounds;
})();

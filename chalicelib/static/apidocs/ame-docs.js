// AME's API reference: Swagger UI (swagger-ui-dist, pinned) with a layout whose landmarks axe accepts:
// the info in <header>, the Authorize button in a labelled <nav>, operations in <main>, models in a <section>.
(function () {
  "use strict";
  function AmeLayoutPlugin(system) {
    var h = system.React.createElement;
    function AmeLayout(props) {
      var get = props.getComponent;
      var Info = get("InfoContainer", true);
      var Authorize = get("AuthorizeBtnContainer", true);
      var Operations = get("operations", true);
      var Models = get("Models", true);
      var Errors = get("errors", true);
      return h("div", {className: "swagger-ui"},
        h("header", {className: "information-container wrapper"}, h(Info)),
        h("nav", {className: "scheme-container", "aria-label": "Autorização"},
          h("div", {className: "schemes wrapper"}, h(Authorize))),
        h("main", {id: "operations", className: "wrapper"},
          h("h2", {className: "ame-visually-hidden"}, "Operações"), h(Errors), h(Operations)),
        h("section", {className: "wrapper", "aria-label": "Modelos"}, h(Models)));
    }
    // Swagger UI's own <select> for enum parameters has no accessible name: the same control, named after
    // the parameter (JsonSchema_* get it as `description`, "name - description").
    var ParameterName = system.React.createContext("");
    function named(Original) {
      return function (props) { return h(ParameterName.Provider, {value: props.description || ""}, h(Original, props)); };
    }
    function AmeSelect(props) {
      var label = system.React.useContext(ParameterName);
      var multiple = !!props.multiple;
      var value = props.value && props.value.toJS ? props.value.toJS() : props.value;
      if (value === undefined || value === null) { value = multiple ? [] : ""; }
      function onChange(event) {
        var chosen = multiple
          ? Array.prototype.filter.call(event.target.options, function (o) { return o.selected; }).map(function (o) { return o.value; })
          : event.target.value;
        if (props.onChange) { props.onChange(chosen); }
      }
      var options = (props.allowedValues || []).map(function (v) { return h("option", {key: String(v), value: String(v)}, String(v)); });
      if (props.allowEmptyValue !== false) { options.unshift(h("option", {key: "", value: ""}, "--")); }
      return h("select", {className: props.className, multiple: multiple, value: value, onChange: onChange,
                          disabled: props.disabled, "aria-label": label || "Valor"}, options);
    }
    return {
      components: {AmeLayout: AmeLayout, Select: AmeSelect},
      wrapComponents: {JsonSchema_string: named, JsonSchema_array: named},
    };
  }
  window.ui = SwaggerUIBundle({
    url: "openapi.json", dom_id: "#swagger-ui", layout: "AmeLayout", plugins: [AmeLayoutPlugin],
    deepLinking: false, tryItOutEnabled: true, syntaxHighlight: false, persistAuthorization: false,
  });
})();

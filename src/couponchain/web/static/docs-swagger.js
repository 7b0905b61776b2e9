// Starts Swagger UI on /docs (api/routes/docs.py) from the bundle served under
// /vendor/swagger-ui. No validator badge (it would call validator.swagger.io), and
// the key given to "Authorize" is kept across reloads of this page. With over a hundred
// operations Swagger UI draws only those in view, so the tag filter box is on.
"use strict";

(() => {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapi,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    filter: true,
    showExtensions: true,
    showCommonExtensions: true,
    persistAuthorization: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();

// Starts ReDoc on /redoc (api/routes/docs.py) from the bundle served under /vendor/redoc.
"use strict";

(() => {
  const root = document.getElementById("redoc");
  Redoc.init(root.dataset.openapi, { hideDownloadButton: false }, root);
})();

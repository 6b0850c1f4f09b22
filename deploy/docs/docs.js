// The gateway's API reference: Swagger UI (vendored from PyPI's drf-spectacular-sidecar
// by scripts/docs-site.py, no CDN) over the four services' OpenAPI documents, each read
// through the gateway under its own prefix. Each document's first server is a path on
// this same gateway, so "Try it out" calls the suite the page came from.
"use strict";
window.ui = SwaggerUIBundle({
  urls: [
    { url: "../external-api/openapi.yaml", name: "meet-rooms: rooms for applications (La Suite Meet's external API)" },
    { url: "../_matrix/identity/openapi.yaml", name: "identity-associations: the Matrix identity service" },
    { url: "../uai/openapi.yaml", name: "user-identity: accounts, logins, documents" },
    { url: "../vault/openapi.yaml", name: "oidc-vault: the OpenID Connect provider" },
  ],
  "urls.primaryName": new URLSearchParams(window.location.search).get("service") || undefined,
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout",
  validatorUrl: null,
});

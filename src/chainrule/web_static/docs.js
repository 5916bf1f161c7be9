"use strict";
// Swagger UI for chainrule's OpenAPI spec; validatorUrl null: nothing is sent to an outside validator.
window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", validatorUrl: null, deepLinking: true});

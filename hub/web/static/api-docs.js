// Starts Swagger UI on the hub's OpenAPI document (kept out of the page: the CSP forbids inline script).
window.addEventListener('load', () => {
  window.SwaggerUIBundle({
    url: document.getElementById('swagger-ui').dataset.specUrl,
    dom_id: '#swagger-ui',
    deepLinking: true
  })
})

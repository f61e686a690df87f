// Starts Swagger UI on the hub's OpenAPI document (kept out of the page: the CSP forbids inline
// script), shaped for the hub:
// - no Authorize dialog: the hub's partner systems authenticate with a private key (and DPoP),
//   which a browser form cannot do; "Try it out" calls the API with the person's own session;
// - no deep links inside the operations' toggle buttons (a link in a button is a nested control);
// - the information section is a labelled region, so that all content sits in a landmark;
// - every form control Swagger draws without a label is named after its parameter, and code
//   blocks that scroll can take the keyboard's focus.

const HubLayout = (system) => {
  const h = system.React.createElement
  return {
    wrapComponents: {
      authorizeBtn: () => () => null,
      authorizeOperationBtn: () => () => null,
      InfoContainer: (Original) => (props) =>
        h('section', { 'aria-label': 'About this API' }, h(Original, props))
    }
  }
}

// Swagger draws enum parameters as <select> elements and others as inputs with no label.
function nameControls (root) {
  root.querySelectorAll('tr[data-param-name]').forEach((row) => {
    const name = `${row.dataset.paramName} (${row.dataset.paramIn})`
    row.querySelectorAll('select, input, textarea').forEach((control) => {
      if (!control.hasAttribute('aria-label') && !control.labels?.length) {
        control.setAttribute('aria-label', name)
      }
    })
  })
  root.querySelectorAll('.body-param__text, .body-param textarea').forEach((control) => {
    if (!control.hasAttribute('aria-label')) control.setAttribute('aria-label', 'Request body')
  })
  root.querySelectorAll('select:not([aria-label])').forEach((control) => {
    if (!control.labels?.length) control.setAttribute('aria-label', 'Media type')
  })
  // Examples and responses scroll sideways when wide: reachable from the keyboard too.
  root.querySelectorAll('pre.microlight:not([tabindex])').forEach((block) => {
    block.setAttribute('tabindex', '0')
  })
}

window.addEventListener('load', () => {
  const root = document.getElementById('swagger-ui')
  new MutationObserver(() => nameControls(root)).observe(root, { childList: true, subtree: true })
  window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    dom_id: '#swagger-ui',
    deepLinking: false,
    supportedSubmitMethods: ['get'],
    defaultModelsExpandDepth: -1, // each operation shows its schemas; no separate list of them
    plugins: [HubLayout]
  })
})

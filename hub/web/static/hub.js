// Initialises GOV.UK Frontend components (error summary focus, radios, navigation toggle...).
import { initAll } from './build/govuk-frontend.min.js'

initAll()

// Conditional reveal for radios: GOV.UK Frontend's markup and classes
// (govuk-radios__conditional, govuk-radios__conditional--hidden), each revealed block
// straight after its radio, so it is read next. GOV.UK Frontend's own script links a radio
// to its block with aria-controls and sets aria-expanded on the radio, which ARIA does not
// allow on a radio (axe-core reports aria-allowed-attr as critical; govuk-frontend issue
// 979). These radios name their block with data-hub-reveals instead, which GOV.UK
// Frontend's script leaves alone, and this script keeps the blocks in step with the choice.
// Without JavaScript every block stays open (GOV.UK Frontend's CSS hides
// --hidden only once its script is supported), so nothing is out of reach.

function sync (group) {
  group.querySelectorAll('input[type="radio"][data-hub-reveals]').forEach(function (input) {
    const target = document.getElementById(input.getAttribute('data-hub-reveals'))
    if (target && target.classList.contains('govuk-radios__conditional')) {
      target.classList.toggle('govuk-radios__conditional--hidden', !input.checked)
    }
  })
}

document.querySelectorAll('.govuk-radios[data-hub-reveal]').forEach(function (group) {
  group.addEventListener('change', function () { sync(group) })
  window.addEventListener('pageshow', function () { sync(group) })
  sync(group)
})

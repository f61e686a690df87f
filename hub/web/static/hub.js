// Initialises GOV.UK Frontend components (error summary focus, radios, navigation toggle...).
import { initAll } from './build/govuk-frontend.min.js'

initAll()

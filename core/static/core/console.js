/* The console's script, on every console page right after unfold's htmx (UNFOLD["SCRIPTS"]).
 * htmx would add its indicator rules as an inline <style>, which the console's
 * Content-Security-Policy refuses; the same rules are in console.css. */
if (window.htmx) {
  window.htmx.config.includeIndicatorStyles = false;
}

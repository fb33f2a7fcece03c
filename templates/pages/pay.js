// The hosted payment page's only script, and the page works without it: it shows the status as it
// changes (polling the page's small status endpoint) and adds copy buttons to account numbers.
(function () {
  'use strict';
  var status = document.querySelector('[data-status-url]');
  function poll() {
    fetch(status.getAttribute('data-status-url'), { cache: 'no-store', headers: { accept: 'application/json' } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (now) {
        if (now && now.status !== status.getAttribute('data-status')) {
          status.setAttribute('data-status', now.status);
          status.textContent = now.label;
          if (!now.open) {
            document.querySelectorAll('[data-open]').forEach(function (part) { part.hidden = true; });
          }
          if (now.paid) {
            document.querySelector('[data-receipt-link]').hidden = false;
          }
        }
        if (!now || now.open) { setTimeout(poll, 2000); }
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  if (status) { setTimeout(poll, 2000); }
  document.querySelectorAll('button[data-copy]').forEach(function (button) {
    if (!navigator.clipboard) { return; }
    button.hidden = false;
    button.addEventListener('click', function () {
      navigator.clipboard.writeText(button.getAttribute('data-copy')).then(function () {
        button.textContent = 'Copied';
      });
    });
  });
})();

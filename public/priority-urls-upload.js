// Progressive enhancement of the priority-URL upload form (app/src/pages/priority_urls/import_form.rs):
// send it with XMLHttpRequest so the page can show the upload's progress. Without this script the form
// posts as a plain multipart form and the server redirects back to the account page with the result.
(function () {
  'use strict';
  if (window.rollgateUploadReady) return; // loaded again after a client-side navigation
  window.rollgateUploadReady = true;

  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute('data-upload-form')) return;
    if (typeof XMLHttpRequest === 'undefined' || typeof FormData === 'undefined') return;
    event.preventDefault();

    var box = form.querySelector('[data-upload-progress]');
    var bar = box.querySelector('progress');
    var status = box.querySelector('[data-upload-status]');
    var error = form.querySelector('[data-upload-error]');
    var button = form.querySelector('button[type="submit"]');

    function show(percent, text) {
      bar.value = percent;
      bar.setAttribute('aria-valuenow', String(percent));
      status.textContent = text;
    }
    function fail(message) {
      button.disabled = false;
      box.hidden = true;
      error.textContent = 'The import was refused: ' + message;
      error.hidden = false;
    }

    error.hidden = true;
    error.textContent = '';
    box.hidden = false;
    button.disabled = true;
    show(0, 'Uploading… 0%');

    var xhr = new XMLHttpRequest();
    xhr.open('POST', form.action);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', function (e) {
      if (e.lengthComputable && e.total > 0) {
        var percent = Math.min(100, Math.round((e.loaded * 100) / e.total));
        show(percent, 'Uploading… ' + percent + '%');
      }
    });
    xhr.upload.addEventListener('load', function () {
      show(100, 'Uploaded 100%. Importing…');
    });
    xhr.addEventListener('load', function () {
      var body = null;
      try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON: reported below */ }
      if (xhr.status >= 200 && xhr.status < 300 && body && body.redirect) {
        show(100, 'Imported ' + body.rows_read + ' rows. Loading the result…');
        window.location.assign(body.redirect);
      } else if (body && body.error) {
        fail(body.error);
      } else {
        fail('the server answered ' + xhr.status + '; nothing was imported.');
      }
    });
    xhr.addEventListener('error', function () {
      fail('the upload was interrupted; nothing was imported. Try again.');
    });
    xhr.send(new FormData(form));
  });
})();

/**
 * The pay page's stylesheet and script, served from the app (`/pay/assets/…`) so the page's
 * Content-Security-Policy can forbid inline code and every other origin.
 */

export const PAY_CSS = `*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:1rem;line-height:1.5;background:#eef2ef;color:#1a1a1a}
main{max-width:28rem;margin:0 auto;padding:1.25rem 1rem 2rem}
.card{background:#fff;border:1px solid #c9d3cc;border-radius:.75rem;padding:1.25rem;box-shadow:0 1px 3px rgba(0,0,0,.06)}
.merchant{display:flex;align-items:center;gap:.75rem;margin:0 0 1rem}
.merchant img{width:3rem;height:3rem;object-fit:contain;border-radius:.5rem;border:1px solid #d5ddd7;background:#fff}
.merchant .initial{width:3rem;height:3rem;border-radius:.5rem;background:#0b6b2f;color:#fff;display:flex;align-items:center;justify-content:center;font-weight:700;font-size:1.25rem}
.merchant p{margin:0;color:#3f4a43;font-size:.9rem}
h1{font-size:1.35rem;line-height:1.25;margin:0 0 1rem}
.desc{margin:-.65rem 0 1rem;color:#3f4a43}
.nowrap{white-space:nowrap}
.amount{font-size:1.6rem;font-weight:700;margin:.25rem 0 1rem}
.amount small{font-size:.9rem;font-weight:400;color:#3f4a43;display:block}
.field{margin:0 0 1rem}
label{display:block;font-weight:600;margin:0 0 .25rem}
.hint{display:block;color:#4a554e;font-size:.9rem;margin:0 0 .35rem}
input[type=tel],input[type=text],input[type=number]{width:100%;font:inherit;font-size:1.1rem;padding:.65rem .75rem;border:2px solid #6b776f;border-radius:.5rem;background:#fff;color:#1a1a1a}
input[aria-invalid=true]{border-color:#b3261e}
.error{color:#b3261e;font-weight:600;font-size:.95rem;margin:.35rem 0 0}
.error:empty{display:none}
.form-error{background:#fdecea;border:1px solid #b3261e;color:#8c1d18;border-radius:.5rem;padding:.6rem .75rem;margin:0 0 1rem}
button,.button{display:block;width:100%;text-align:center;font:inherit;font-size:1.1rem;font-weight:700;padding:.8rem 1rem;border-radius:.5rem;border:2px solid #0b6b2f;background:#0b6b2f;color:#fff;cursor:pointer;text-decoration:none}
button:hover,.button:hover{background:#08561f}
button[disabled]{opacity:.7;cursor:progress}
.button.secondary{background:#fff;color:#0b6b2f}
a{color:#0a5a28}
:focus-visible{outline:3px solid #1a4fd6;outline-offset:2px}
input:focus-visible{outline:3px solid #1a4fd6;outline-offset:1px;border-color:#1a4fd6}
.hp{position:absolute!important;left:-10000px!important;width:1px;height:1px;overflow:hidden}
.state{text-align:center}
.state .icon{width:4rem;height:4rem;margin:.25rem auto 1rem;border-radius:50%;display:flex;align-items:center;justify-content:center;font-size:2rem;font-weight:700}
.state.pending .icon{border:4px solid #c9d3cc;border-top-color:#0b6b2f;animation:spin 1s linear infinite}
.state.success .icon{background:#0b6b2f;color:#fff}
.state.failed .icon,.state.needs_review .icon{background:#b3261e;color:#fff}
.state.needs_review .icon{background:#8a5a00}
@keyframes spin{to{transform:rotate(360deg)}}
@media (prefers-reduced-motion:reduce){.state.pending .icon{animation:none}}
.receipt{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:1.4rem;font-weight:700;letter-spacing:.06em;background:#e7f3eb;border:1px dashed #0b6b2f;border-radius:.5rem;padding:.5rem;margin:.5rem 0 1rem}
dl{display:grid;grid-template-columns:auto 1fr;gap:.25rem .75rem;text-align:left;margin:0 0 1rem}
dt{color:#4a554e}dd{margin:0;font-weight:600}
.steps{text-align:left;padding-left:1.25rem;margin:0 0 1rem}
.foot{text-align:center;color:#4a554e;font-size:.85rem;margin:1rem 0 0}
`;

/**
 * Progressive enhancement only: the form posts and the status page refreshes without it.
 * On the form: inline checks before sending (same rules as the server), one submission at a time.
 * On the status page: polls the public status URL and reloads once the payment is decided, and once more
 * when the receipt of a success shown without one arrives.
 */
export const PAY_JS = `(function () {
  'use strict';
  function normalizePhone(raw) {
    var compact = String(raw).trim().replace(/[\\s\\-.()]/g, '');
    if (!/^\\+?\\d+$/.test(compact)) return null;
    var d = compact.charAt(0) === '+' ? compact.slice(1) : compact;
    var n;
    if (d.length === 12 && d.indexOf('254') === 0) n = d.slice(3);
    else if (d.length === 10 && d.charAt(0) === '0') n = d.slice(1);
    else if (d.length === 9) n = d;
    else return null;
    return /^[17]\\d{8}$/.test(n) ? '254' + n : null;
  }
  function setError(input, box, message) {
    if (!input || !box) return;
    box.textContent = message || '';
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
  var form = document.getElementById('pay-form');
  if (form) {
    var phone = document.getElementById('phone');
    var phoneError = document.getElementById('phone-error');
    var amount = document.getElementById('amount');
    var amountError = document.getElementById('amount-error');
    var button = document.getElementById('pay-button');
    var sending = false;
    var checkPhone = function () {
      var v = phone.value;
      if (v.trim() === '') return 'Enter your M-Pesa phone number, for example 0712 345 678.';
      return normalizePhone(v) ? '' : 'Enter a Kenyan mobile number such as 0712 345 678 or +254 712 345 678.';
    };
    var checkAmount = function () {
      if (!amount) return '';
      var min = Number(amount.getAttribute('data-min'));
      var max = Number(amount.getAttribute('data-max'));
      var text = amount.value.trim().replace(/,/g, '');
      var range = 'Enter an amount between KES ' + min.toLocaleString('en-KE') + ' and KES ' + max.toLocaleString('en-KE') + '.';
      if (text === '') return range;
      if (!/^\\d{1,7}$/.test(text)) return 'Enter the amount in whole shillings, without cents.';
      var n = Number(text);
      return n < min || n > max ? range : '';
    };
    // errors appear on submit only (an error shown on blur moves the button under the pointer);
    // once shown, each clears as soon as its field is right
    phone.addEventListener('input', function () {
      if (phone.getAttribute('aria-invalid') && !checkPhone()) setError(phone, phoneError, '');
    });
    if (amount) {
      amount.addEventListener('input', function () {
        if (amount.getAttribute('aria-invalid') && !checkAmount()) setError(amount, amountError, '');
      });
    }
    form.addEventListener('submit', function (e) {
      if (sending) {
        e.preventDefault();
        return;
      }
      var a = checkAmount();
      var p = checkPhone();
      setError(amount, amountError, a);
      setError(phone, phoneError, p);
      if (a || p) {
        e.preventDefault();
        var first = a ? amount : phone;
        // after the click that submitted has finished moving focus to the button
        setTimeout(function () { first.focus(); }, 0);
        return;
      }
      sending = true;
      button.setAttribute('disabled', 'disabled');
      button.textContent = 'Sending the prompt to your phone…';
    });
  }
  var state = document.querySelector('[data-status-url]');
  if (state && state.getAttribute('data-watch') === '1') {
    var url = state.getAttribute('data-status-url');
    var shown = state.getAttribute('data-status');
    var started = Date.now();
    var poll = function () {
      fetch(url, { headers: { accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          // a decided payment, or the receipt of a success shown without one
          if (s && s.status && (s.status !== shown || (s.status === 'success' && s.mpesaReceipt))) {
            window.location.reload();
            return;
          }
          if (Date.now() - started < 10 * 60 * 1000) setTimeout(poll, 2000);
        })
        .catch(function () { setTimeout(poll, 5000); });
    };
    setTimeout(poll, 1500);
  }
})();
`;

/** A small M-Pesa-green icon, so browsers do not ask for /favicon.ico. */
export const PAY_ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#0b6b2f"/><path d="M8 23V9h3l5 7 5-7h3v14h-3v-9l-5 7-5-7v9z" fill="#fff"/></svg>
`;

/**
 * The dashboard's one stylesheet and one script, served from `/dashboard/assets/…` so the pages'
 * Content-Security-Policy forbids inline code and every other origin. No build step: these are the files.
 */

export const DASHBOARD_CSS = `*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:1rem;line-height:1.5;background:#f3f5f4;color:#1a1a1a}
a{color:#0a5a28}
a:hover{color:#063d1b}
:focus-visible{outline:3px solid #1a4fd6;outline-offset:2px}
.skip{position:absolute;left:-10000px;top:0;background:#fff;padding:.5rem 1rem;z-index:10}
.skip:focus{left:.5rem;top:.5rem}
header.top{background:#0b3d20;color:#fff;padding:.5rem 1rem;display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem}
header.top a{color:#fff}
.brand{font-weight:700;text-decoration:none;display:flex;align-items:center;gap:.5rem;margin-right:auto;min-width:0}
.brand img{width:1.75rem;height:1.75rem}
.brand span{overflow:hidden;text-overflow:ellipsis;white-space:nowrap;max-width:16rem}
.top form{margin:0;display:inline}
.top .who{font-size:.85rem;opacity:.85;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;max-width:14rem}
.env{display:inline-flex;border:1px solid #9fc3ad;border-radius:999px;overflow:hidden}
.env button,.env span{font:inherit;font-size:.85rem;padding:.2rem .7rem;border:0;background:transparent;color:#fff;cursor:pointer}
.env .on{background:#fff;color:#0b3d20;font-weight:700;cursor:default}
.env .on.live{background:#ffcf5c;color:#3d2a00}
.linkish{font:inherit;font-size:.9rem;background:none;border:0;color:#fff;text-decoration:underline;cursor:pointer;padding:.2rem}
nav.main{background:#fff;border-bottom:1px solid #d5ddd7;overflow-x:auto;-webkit-overflow-scrolling:touch}
nav.main ul{list-style:none;margin:0 auto;padding:0 .5rem;display:flex;gap:.25rem;max-width:72rem}
nav.main a{display:block;padding:.65rem .7rem;text-decoration:none;color:#2b332e;white-space:nowrap;border-bottom:3px solid transparent}
nav.main a[aria-current=page]{border-bottom-color:#0b6b2f;color:#0b3d20;font-weight:700}
main{max-width:72rem;margin:0 auto;padding:1.25rem 1rem 3rem}
h1{font-size:1.5rem;line-height:1.25;margin:0 0 1rem}
h2{font-size:1.15rem;margin:1.5rem 0 .75rem}
.live-banner{background:#fff4d6;border-bottom:1px solid #e0b84a;color:#3d2a00;text-align:center;font-size:.9rem;padding:.3rem 1rem}
.flash{border-radius:.5rem;padding:.65rem .9rem;margin:0 0 1rem;border:1px solid}
.flash.ok{background:#e7f3eb;border-color:#0b6b2f;color:#063d1b}
.flash.error{background:#fdecea;border-color:#b3261e;color:#8c1d18}
.card{background:#fff;border:1px solid #d5ddd7;border-radius:.6rem;padding:1rem 1.1rem;margin:0 0 1rem}
.card>h2:first-child,.card>figcaption:first-child{margin-top:0}
.card h3{font-size:1rem;margin:1.25rem 0 .5rem}
.card form{max-width:34rem}
.narrow{max-width:26rem;margin:2rem auto}
.narrow h1{text-align:center}
.center{text-align:center}
.field{margin:0 0 1rem}
label{display:block;font-weight:600;margin:0 0 .25rem}
.hint{display:block;color:#4a554e;font-size:.875rem;margin:0 0 .3rem}
input[type=text],input[type=email],input[type=password],input[type=tel],input[type=date],input[type=search],input[type=number],select{width:100%;font:inherit;padding:.5rem .65rem;border:2px solid #6b776f;border-radius:.45rem;background:#fff;color:#1a1a1a;min-height:2.6rem}
input[aria-invalid=true],select[aria-invalid=true]{border-color:#b3261e}
input:focus-visible,select:focus-visible{outline:3px solid #1a4fd6;outline-offset:1px;border-color:#1a4fd6}
.error{color:#b3261e;font-weight:600;font-size:.9rem;margin:.3rem 0 0}
.button,button.primary,button.secondary,button.danger{display:inline-block;font:inherit;font-weight:700;padding:.55rem 1rem;border-radius:.45rem;border:2px solid #0b6b2f;background:#0b6b2f;color:#fff;cursor:pointer;text-decoration:none;min-height:2.6rem}
.button:hover,button.primary:hover{background:#08561f;color:#fff}
button.secondary,.button.secondary{background:#fff;color:#0b6b2f}
button.danger{background:#fff;color:#b3261e;border-color:#b3261e}
.wide{width:100%}
.muted{color:#4a554e}
.small{font-size:.875rem}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9em;word-break:break-all}
.empty{text-align:center;padding:2rem 1rem;color:#4a554e}
.empty strong{display:block;color:#1a1a1a;font-size:1.1rem;margin-bottom:.25rem}
.table-wrap{overflow-x:auto;background:#fff;border:1px solid #d5ddd7;border-radius:.6rem}
table{border-collapse:collapse;width:100%;font-size:.95rem}
th,td{text-align:left;padding:.55rem .75rem;border-bottom:1px solid #e4e9e6;vertical-align:top}
th{font-size:.8rem;text-transform:uppercase;letter-spacing:.03em;color:#4a554e;background:#f8faf9}
tr:last-child td{border-bottom:0}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.badge{display:inline-block;border-radius:999px;padding:.05rem .55rem;font-size:.8rem;font-weight:700;white-space:nowrap;background:#e4e9e6;color:#2b332e}
.badge.success{background:#dcefe2;color:#0b5a26}
.badge.failed,.badge.cancelled{background:#fbe3e1;color:#8c1d18}
.badge.pending{background:#e3ebfb;color:#173f9c}
.badge.needs_review{background:#fff0cc;color:#6b4700}
.pager{display:flex;gap:.75rem;justify-content:space-between;align-items:center;margin:1rem 0}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(10rem,1fr));gap:.75rem;margin:0 0 1rem}
.stat{background:#fff;border:1px solid #d5ddd7;border-radius:.6rem;padding:.75rem 1rem}
.stat small{display:block;color:#4a554e;font-size:.85rem}
.stat b{display:block;font-size:1.35rem;font-variant-numeric:tabular-nums}
.chart svg{width:100%;height:10rem;display:block;margin-top:.75rem}
.chart .bar{fill:#0b6b2f}
.chart .axis{stroke:#c9d3cc}
.chart .ticks{display:flex;justify-content:space-between;font-size:.8rem;color:#4a554e;border-top:1px solid #c9d3cc;padding-top:.25rem}
dl.props{display:grid;grid-template-columns:minmax(8rem,auto) 1fr;gap:.35rem 1rem;margin:0}
dl.props dt{color:#4a554e}
dl.props dd{margin:0;min-width:0;overflow-wrap:anywhere}
.filters{display:grid;grid-template-columns:repeat(auto-fit,minmax(11rem,1fr));gap:.5rem .75rem;align-items:end}
.filters .field{margin:0}
.actions{display:flex;flex-wrap:wrap;gap:.5rem;margin:.75rem 0 0}
ol.timeline{list-style:none;margin:0;padding:0 0 0 1rem;border-left:3px solid #d5ddd7}
ol.timeline li{position:relative;margin:0 0 1rem;padding-left:.75rem}
ol.timeline li::before{content:"";position:absolute;left:-1.55rem;top:.35rem;width:.8rem;height:.8rem;border-radius:50%;background:#fff;border:3px solid #0b6b2f}
ol.timeline time{display:block;font-size:.85rem;color:#4a554e}
.copy{font:inherit;font-size:.8rem;padding:.1rem .5rem;margin-left:.4rem;border:1px solid #6b776f;border-radius:.35rem;background:#fff;cursor:pointer}
.badge.active{background:#dcefe2;color:#0b5a26}
.badge.disabled,.badge.expired,.badge.exhausted{background:#e4e9e6;color:#3b453f}
fieldset.range{border:1px solid #d5ddd7;border-radius:.45rem;margin:0 0 1rem;padding:.5rem .75rem 0;display:grid;grid-template-columns:repeat(auto-fit,minmax(9rem,1fr));gap:0 .75rem}
fieldset.range legend{font-weight:600;padding:0 .25rem}
.link-share{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start;justify-content:space-between}
.link-share h2{margin-top:0}
.share-text{flex:1 1 16rem;min-width:0}
.url{font-size:1.05rem}
img.qr{width:200px;height:200px;max-width:100%;border:1px solid #d5ddd7;border-radius:.45rem;background:#fff}
.actions form{margin:0;display:inline}
.button.danger{background:#fff;color:#b3261e;border-color:#b3261e}
.confirm-q{font-size:1.2rem}
.actions.top{margin:0 0 1rem}
.nowrap{white-space:nowrap;word-break:normal}
.show-sm{display:none}
.sr-only{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}
.inline-form{display:flex;flex-wrap:wrap;gap:.4rem;align-items:center;margin:0}
.spaced{margin-bottom:1rem}
.inline-form select{width:auto;min-width:8rem}
button.small-button,.button.small-button{padding:.3rem .7rem;min-height:2.2rem;font-size:.9rem}
.hide-sm{}
a.stat{text-decoration:none;color:inherit}
a.stat:hover{border-color:#0b6b2f}
@media (max-width:40rem){
  main{padding:1rem .75rem 2rem}
  h1{font-size:1.3rem}
  .hide-sm{display:none}
  .show-sm{display:block}
  dl.props{grid-template-columns:1fr}
  dl.props dt{font-size:.85rem;margin-top:.35rem}
  .top .who{display:none}
  nav.main ul{flex-wrap:wrap;padding:0 .25rem}
  nav.main a{padding:.45rem .55rem}
  .chart svg{height:7rem}
  th,td{padding:.5rem .5rem}
}
.label{display:block;font-weight:600;margin:0 0 .25rem}
.nowrap{white-space:nowrap;word-break:normal}
.card>h2:first-child{margin-top:.25rem}
.flash.warn{background:#fff4d6;border-color:#c99a1e;color:#3d2a00}
fieldset.checks{border:1px solid #d5ddd7;border-radius:.45rem;margin:0 0 1rem;padding:.5rem .9rem .75rem;min-width:0}
fieldset.checks legend{font-weight:600;padding:0 .3rem}
.check{display:flex;gap:.6rem;align-items:flex-start;margin:.45rem 0}
.check input[type=checkbox]{width:1.3rem;height:1.3rem;margin:.15rem 0 0;flex:none;accent-color:#0b6b2f}
.check label{font-weight:400;margin:0}
.check .hint{display:inline}
.secret{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem;background:#fffbea;border:2px dashed #c99a1e;border-radius:.45rem;padding:.6rem .75rem;margin:0 0 .5rem}
.secret code{flex:1 1 14rem;min-width:0;font-size:.95rem;user-select:all}
.badge.active{background:#dcefe2;color:#0b5a26}
.badge.revoked,.badge.expired,.badge.disabled{background:#fbe3e1;color:#8c1d18}
.badge.default{background:#e3ebfb;color:#173f9c}
nav.tabs{display:flex;gap:.25rem;margin:0 0 1rem;border-bottom:1px solid #d5ddd7}
nav.tabs a{padding:.45rem .8rem;text-decoration:none;border-bottom:3px solid transparent;color:#2b332e}
nav.tabs a[aria-current=page]{border-bottom-color:#0b6b2f;font-weight:700;color:#0b3d20}
details summary{cursor:pointer;font-weight:600}
pre.json{overflow-x:auto;background:#f8faf9;border:1px solid #e4e9e6;border-radius:.4rem;padding:.75rem;font-size:.85rem;margin:.75rem 0 0}
.snippet{display:block;white-space:pre-wrap;max-height:8rem;overflow:auto}
.actions form{margin:0}
.delivery h3{font-size:1rem;margin:0 0 .5rem;word-break:break-all}
@media (max-width:40rem){
  table.stack thead{position:absolute;left:-10000px}
  table.stack,table.stack tbody,table.stack tr,table.stack td{display:block;width:100%}
  table.stack tr{border-bottom:1px solid #e4e9e6;padding:.45rem 0}
  table.stack tr:last-child{border-bottom:0}
  table.stack td{border:0;padding:.15rem .75rem;display:grid;grid-template-columns:6.5rem minmax(0,1fr);gap:.5rem;overflow-wrap:anywhere}
  table.stack td::before{content:attr(data-label);font-weight:600;color:#4a554e;font-size:.85rem}
  table.stack td.num{text-align:left}
}
`;

/**
 * Enhancements only; every page works without it: copy buttons (`data-copy="text"`), confirm
 * dialogs on forms (`data-confirm="question"`), and the current tab scrolled into a narrow nav.
 */
export const DASHBOARD_JS = `(function () {
  'use strict';
  document.addEventListener('submit', function (e) {
    var form = e.target;
    var q = form && form.getAttribute && form.getAttribute('data-confirm');
    if (q && !window.confirm(q)) e.preventDefault();
  });
  // on a narrow screen the nav scrolls sideways: bring the current page's tab into view
  var nav = document.querySelector('nav.main');
  var cur = nav && nav.querySelector('a[aria-current=page]');
  if (cur && nav.scrollWidth > nav.clientWidth) {
    nav.scrollLeft = cur.offsetLeft - (nav.clientWidth - cur.offsetWidth) / 2;
  }
  var buttons = document.querySelectorAll('[data-copy]');
  for (var i = 0; i < buttons.length; i++) {
    (function (b) {
      b.hidden = false;
      b.addEventListener('click', function () {
        var text = b.getAttribute('data-copy') || '';
        if (!navigator.clipboard) return;
        navigator.clipboard.writeText(text).then(function () {
          var was = b.textContent;
          b.textContent = 'Copied';
          setTimeout(function () { b.textContent = was; }, 1500);
        });
      });
    })(buttons[i]);
  }
})();
`;

export const DASHBOARD_ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#0b6b2f"/><path d="M8 23V9h3l5 7 5-7h3v14h-3v-9l-5 7-5-7v9z" fill="#fff"/></svg>
`;

// SLA countdown: wall-clock time left until each clock's due time, updated every second.
function tick() {
  for (const el of document.querySelectorAll('[data-due]')) {
    const left = Math.round((Date.parse(el.dataset.due) - Date.now()) / 1000);
    const abs = Math.abs(left), h = Math.floor(abs / 3600), m = Math.floor(abs % 3600 / 60), s = abs % 60;
    el.textContent = (left < 0 ? '-' : '') + h + 'h' + String(m).padStart(2, '0') + 'm' + String(s).padStart(2, '0') + 's';
  }
}
tick(); setInterval(tick, 1000);

// Status dashboard: every data-refresh seconds fetch the status block again and swap it in (no
// page reload, no flash). The notice form's application boxes follow the impaired ones until
// the desk touches one. A failed fetch leaves the block as it is; a signed-out one reloads
// the page (which then goes to the sign-in form).
(function statusRefresh() {
  const block = document.querySelector('[data-refresh][data-src]');
  if (!block) return;
  const every = Math.max(2, Number(block.dataset.refresh) || 15) * 1000;
  const boxes = () => document.querySelectorAll('#publish-apps input[data-app]');
  for (const box of boxes()) box.addEventListener('change', () => { box.dataset.touched = '1'; });
  const follow = () => {
    const ids = (block.querySelector('#impaired-ids')?.dataset.ids || '').split(',');
    for (const box of boxes()) if (!box.dataset.touched) box.checked = ids.includes(box.dataset.app);
  };
  const refresh = async () => {
    try {
      const answer = await fetch(block.dataset.src, { credentials: 'same-origin', cache: 'no-store' });
      if (answer.status === 401) { location.reload(); return; }  // signed out: to the sign-in
      if (answer.ok && !answer.redirected) { block.innerHTML = await answer.text(); follow(); }
    } catch (e) { /* offline for a moment: the next round tries again */ }
    setTimeout(refresh, every);
  };
  setTimeout(refresh, every);
})();

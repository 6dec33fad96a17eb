// SLA countdown: wall-clock time left until each clock's due time, updated every second.
function tick() {
  for (const el of document.querySelectorAll('[data-due]')) {
    const left = Math.round((Date.parse(el.dataset.due) - Date.now()) / 1000);
    const abs = Math.abs(left), h = Math.floor(abs / 3600), m = Math.floor(abs % 3600 / 60), s = abs % 60;
    el.textContent = (left < 0 ? '-' : '') + h + 'h' + String(m).padStart(2, '0') + 'm' + String(s).padStart(2, '0') + 's';
  }
}
tick(); setInterval(tick, 1000);

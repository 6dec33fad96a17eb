// The case queue's keyboard shortcuts and bulk selection (no inline script: CSP).
// j / k: next / previous row; x: select the row; a: assign the row to me; Enter: open it;
// /: focus the search; ?: show or hide the help.
(function queue() {
  const table = document.getElementById('queue');
  const rows = () => Array.from(document.querySelectorAll('#queue tbody tr[data-case]'));
  const count = document.getElementById('selected-count');
  const all = document.getElementById('select-all');
  const action = document.getElementById('bulk-action');
  let current = -1;

  const recount = () => {
    if (count) count.textContent = document.querySelectorAll('#queue input.pick:checked').length;
  };
  const show = (i) => {
    const list = rows();
    if (!list.length) return;
    current = Math.max(0, Math.min(list.length - 1, i));
    list.forEach((row, n) => row.classList.toggle('current', n === current));
    list[current].scrollIntoView({ block: 'nearest' });
    const link = list[current].querySelector('a.open');
    if (link) link.focus({ preventScroll: true });
  };
  const fields = () => {
    if (!action) return;
    for (const label of document.querySelectorAll('#bulk-actions [data-for]')) {
      label.hidden = label.dataset.for !== action.value;
    }
  };

  if (all) {
    all.addEventListener('change', () => {
      for (const box of document.querySelectorAll('#queue input.pick')) box.checked = all.checked;
      recount();
    });
  }
  if (table) table.addEventListener('change', recount);
  if (action) { action.addEventListener('change', fields); fields(); }
  recount();

  document.addEventListener('keydown', (event) => {
    const target = event.target;
    const typing = target instanceof HTMLElement &&
      (target.isContentEditable || ['INPUT', 'SELECT', 'TEXTAREA'].includes(target.tagName) &&
        !(target instanceof HTMLInputElement && target.type === 'checkbox'));
    if (typing || event.altKey || event.ctrlKey || event.metaKey) return;
    const list = rows();
    const row = list[current];
    switch (event.key) {
      case 'j': show(current + 1); break;
      case 'k': show(current < 0 ? 0 : current - 1); break;
      case 'x': {
        if (!row) return;
        const box = row.querySelector('input.pick');
        if (box) { box.checked = !box.checked; recount(); }
        break;
      }
      case 'a': {
        const button = row && row.querySelector('button.assign-me');
        if (button) button.click();
        break;
      }
      case 'Enter': {
        if (!row || (target instanceof HTMLElement && target.closest('a, button'))) return;
        const link = row.querySelector('a.open');
        if (link) link.click();
        break;
      }
      case '/': {
        const search = document.getElementById('queue-search');
        if (search) search.focus();
        break;
      }
      case '?': {
        const help = document.getElementById('shortcuts');
        if (help) help.open = !help.open;
        break;
      }
      default: return;
    }
    event.preventDefault();
  });
})();

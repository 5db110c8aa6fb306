// PSI console: marks the current section in the navigation. Every page works without it.
'use strict';
document.addEventListener('DOMContentLoaded', () => {
  const path = window.location.pathname;
  let best;
  for (const link of document.querySelectorAll('header nav a')) {
    const target = new URL(link.href).pathname.replace(/\/$/, '');
    if (
      (path === target || path.startsWith(`${target}/`)) &&
      (!best || target.length > best.length)
    ) {
      best = target;
      document
        .querySelectorAll('header nav a.current')
        .forEach((a) => a.classList.remove('current'));
      link.classList.add('current');
    }
  }
});

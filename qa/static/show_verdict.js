/* After an answer, scroll the chat so that the reply's first line (the verdict) is at the top of
   the chat area, then the page so that the verdict is on screen: a reply taller than the chat must
   not leave its verdict scrolled out of view. */
async () => {
  const show = () => {
    const replies = document.querySelectorAll('#qa-chat [data-testid="bot"]');
    if (!replies.length) return;
    const reply = replies[replies.length - 1];
    let box = reply.parentElement;
    while (box && box.id !== 'qa-chat' && !(box.scrollHeight > box.clientHeight + 1 &&
           /(auto|scroll)/.test(getComputedStyle(box).overflowY))) box = box.parentElement;
    if (box && box.id !== 'qa-chat') {
      box.scrollTop += reply.getBoundingClientRect().top - box.getBoundingClientRect().top - 4;
    }
    const verdict = reply.querySelector('.qa-verdict') || reply;
    const r = verdict.getBoundingClientRect();
    if (r.top < 0 || r.bottom > window.innerHeight) window.scrollBy(0, r.top - window.innerHeight / 4);
    // Then keep the question box reachable below the chat, never scrolling the verdict off the top.
    const q = document.querySelector('#qa-question');
    if (q) {
      const below = q.getBoundingClientRect().bottom - window.innerHeight + 8;
      const top = verdict.getBoundingClientRect().top;
      if (below > 0 && top > 0) window.scrollBy(0, Math.min(below, top - 4));
    }
  };
  for (const ms of [0, 100, 400]) { await new Promise(r => setTimeout(r, ms)); show(); }
}

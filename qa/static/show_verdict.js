/* After an answer, scroll the chat so that the reply's first line (the verdict) is at the top of
   the chat area. The question box sits above the chat and the page fits the screen, so the page
   itself scrolls only when the verdict is still out of view, and then only so far that the
   question box stays on screen (it goes to the top of the window, the chat right below it). */
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
    if (r.top >= 0 && r.bottom <= window.innerHeight) return;
    const q = document.querySelector('#qa-ask-row') || document.querySelector('#qa-question');
    const qTop = q ? q.getBoundingClientRect().top : 0;
    window.scrollBy(0, Math.min(r.top - window.innerHeight / 4, qTop - 4));
  };
  for (const ms of [0, 100, 400]) { await new Promise(r => setTimeout(r, ms)); show(); }
}

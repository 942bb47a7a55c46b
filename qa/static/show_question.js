/* After a question is sent, show it (and the pending reply) at the bottom of the chat. */
async () => {
  await new Promise(r => setTimeout(r, 50));
  const chat = document.querySelector('#qa-chat');
  if (!chat) return;
  for (const el of chat.querySelectorAll('*')) {
    if (el.scrollHeight > el.clientHeight + 1 && /(auto|scroll)/.test(getComputedStyle(el).overflowY)) {
      el.scrollTop = el.scrollHeight;
    }
  }
}

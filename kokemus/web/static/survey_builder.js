// The survey builder's drag to reorder (kokemus/web/survey_builder.py). Without this script
// the ↑ ↓ buttons reorder; with it, a question dragged by its handle and dropped on another
// takes that place: every field of every question is renamed to its new position and the
// form is applied, so the server reads the new order exactly as after a button.
(() => {
  const form = document.getElementById("builder");
  const list = form && form.querySelector(".built-questions");
  const apply = form && form.querySelector("#apply");
  if (!list || !apply) return;  // read-only: nothing to move
  let dragged = null;

  const renumber = () => {
    [...list.children].forEach((item, place) => {
      const from = item.dataset.index;
      const rename = (value) => value.replace(`questions.${from}.`, `questions.${place}.`)
        .replace(new RegExp(`^f-questions\\.${from}$`), `f-questions.${place}`);
      for (const el of [item, ...item.querySelectorAll("[name], [id]")]) {
        if (el.name) el.name = rename(el.name);
        if (el.id) el.id = rename(el.id);
      }
      item.dataset.index = String(place);
    });
  };

  for (const handle of list.querySelectorAll(".drag-handle")) {
    const item = handle.closest(".built-question");
    handle.addEventListener("dragstart", (event) => {
      dragged = item;
      item.classList.add("dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", item.dataset.index);
    });
    handle.addEventListener("dragend", () => item.classList.remove("dragging"));
  }
  for (const item of list.children) {
    item.addEventListener("dragover", (event) => {
      if (dragged && dragged !== item) event.preventDefault();
    });
    item.addEventListener("drop", (event) => {
      event.preventDefault();
      if (!dragged || dragged === item) return;
      const after = [...list.children].indexOf(dragged) < [...list.children].indexOf(item);
      item.insertAdjacentElement(after ? "afterend" : "beforebegin", dragged);
      dragged = null;
      renumber();
      form.requestSubmit(apply);
    });
  }
})();

// The review grid is walked with the keyboard: arrow keys and space move the selection instead of scrolling the page,
// and the selected tile is kept in view. Every other key (Tab above all) keeps its usual meaning.
const walkKeys = new Set(["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", " "]);

export function attach(element) {
    element.addEventListener("keydown", e => {
        if (walkKeys.has(e.key) && !e.altKey && !e.ctrlKey && !e.metaKey) e.preventDefault();
    });
}

export function reveal(element) {
    const selected = element.querySelector("[data-selected=true]");
    if (selected) selected.scrollIntoView({ block: "nearest", inline: "nearest" });
}

export function focus(element) {
    element.focus({ preventScroll: true });
}

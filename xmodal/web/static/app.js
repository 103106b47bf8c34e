// The xmodal page: everything goes through the JSON API (/api/...), and every
// piece of text from a user or the index is set with textContent, never as HTML.
"use strict";

const MAX_UPLOAD = 25 * 1024 * 1024;
const $ = (id) => document.getElementById(id);
const ui = {
  form: $("search"), options: $("options"), q: $("q"), k: $("k"), threshold: $("threshold"), within: $("in"), pick: $("pick"),
  after: $("after"), before: $("before"),
  status: $("status"), grid: $("grid"), viewer: $("viewer"), viewerImg: $("viewer-img"),
  name: $("viewer-name"), path: $("viewer-path"), size: $("viewer-size"), taken: $("viewer-taken"), date: $("viewer-date"),
  words: $("viewer-words"), analogy: $("analogy"), minus: $("minus"), plus: $("plus"),
  duplicates: $("duplicates"), groups: $("groups"), dupForm: $("dup-form"), dupThreshold: $("dup-threshold"),
};
const MAX_GROUPS = 200;  // groups drawn at once; the status says how many more there are
let shown = [];      // the photos in the grid, best first
let current = null;  // the photo open in the viewer
let opener = null;   // the tile that opened it, to return focus to
let focusResults = false;  // a search started from the viewer: focus its first result, not the page
let latest = 0;      // the newest search or duplicates request: an older answer arriving later is dropped

const baseName = (path) => path.split("/").pop();
const count = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const agree = (n, verb) => (n === 1 ? `${verb}s` : verb);  // "1 photo that looks", "2 photos that look"
const thumb = (path, size) => `/api/thumbnail?${new URLSearchParams({ path, size })}`;

// A path as a photo term of an expression (docs/expressions.md): img:"..." when it holds spaces.
function photoTerm(path) {
  if (!/[\s"'+*()-]/.test(path)) return `img:${path}`;
  return path.includes('"') ? `img:'${path}'` : `img:"${path}"`;
}

function say(text, isError = false) {
  ui.status.textContent = text;
  ui.status.classList.toggle("error", isError);
}

async function getJSON(url, options) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (error) {
    throw new Error("the server did not answer; is xmodal serve still running?");
  }
  let data = null;
  try { data = await response.json(); } catch (error) { /* not JSON: said below */ }
  if (!response.ok) throw new Error((data && data.error) || `the server answered ${response.status}`);
  return data;
}

// -- the query in the URL: /?q=...&k=...&threshold=...&in=...&after=...&before=...&using=... --

const FILTERS = ["threshold", "in", "after", "before"];  // the options that narrow the photos, as the API names them
const filterInputs = { threshold: ui.threshold, in: ui.within, after: ui.after, before: ui.before };

function stateFromForm(extra = {}) {
  const state = { q: ui.q.value.trim() };
  if (ui.k.value && ui.k.value !== "24") state.k = ui.k.value;
  for (const name of FILTERS) if (filterInputs[name].value.trim()) state[name] = filterInputs[name].value.trim();
  return { ...state, ...extra };
}

function formFromState(params) {
  const duplicates = params.get("view") === "duplicates";  // there, threshold is the near-copy cosine
  ui.q.value = params.get("q") || "";
  ui.k.value = params.get("k") || "24";
  for (const name of FILTERS) filterInputs[name].value = params.get(name) || "";
  ui.threshold.value = duplicates ? "" : params.get("threshold") || "";
  ui.dupThreshold.value = duplicates ? params.get("threshold") || "" : "";
  if (ui.k.value !== "24" || FILTERS.some((name) => filterInputs[name].value)) ui.options.open = true;  // options in force are shown
}

function go(state) {
  const params = new URLSearchParams(Object.entries(state).filter(([, v]) => v));
  history.pushState(null, "", `/?${params}`);
  formFromState(params);
  run(params);
}

async function run(params) {
  const mine = ++latest;  // whatever this view is, an answer still on its way for an older one is dropped
  ui.duplicates.hidden = params.get("view") !== "duplicates";
  ui.groups.replaceChildren();
  if (!ui.duplicates.hidden) return runDuplicates(params);
  if (!params.get("q")) {
    show([], "");
    say("Type a query, or drop a photo anywhere on the page.");
    document.title = "xmodal";
    return;
  }
  document.title = `${params.get("q")} · xmodal`;
  say("Searching…");
  const focus = focusResults;
  focusResults = false;
  const api = new URLSearchParams({ q: params.get("q"), k: params.get("k") || "24" });
  for (const name of [...FILTERS, "using"]) if (params.get(name)) api.set(name, params.get(name));
  try {
    const answer = await getJSON(`/api/query?${api}`);
    if (mine !== latest) return;
    show(answer.results, describe(answer));
    const first = ui.grid.querySelector(".tile");
    if (focus) (first || ui.q).focus();
  } catch (error) {
    if (mine !== latest) return;
    show([], "");
    say(error.message, true);
    if (focus) ui.q.focus();
  }
}

function describe(answer) {
  const how = answer.using === "visual" ? `that ${agree(answer.results.length, "look")} alike` : "by meaning";
  const none = answer.nothing || `no photo found for "${answer.query}"`;  // the server says why, as the CLI does
  const found = answer.results.length ? `${count(answer.results.length, "photo")} ${how}` : none[0].toUpperCase() + none.slice(1);
  return [found, ...answer.notes.map((note) => `note: ${note}`)].join(" · ");
}

// -- the grid -----------------------------------------------------------------------------

function show(results, message) {
  shown = results;
  ui.grid.replaceChildren(...results.map(tile));
  if (message) say(message);
}

function tile(result, i) {
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "tile";
  button.dataset.index = String(i);
  const img = document.createElement("img");
  img.src = thumb(result.path, 320);
  img.alt = `${baseName(result.path)}, score ${result.score.toFixed(3)}`;
  img.loading = i < 30 ? "eager" : "lazy";
  img.decoding = "async";
  const caption = document.createElement("span");
  caption.className = "caption";
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = baseName(result.path);
  name.title = result.path;
  const score = document.createElement("span");
  score.className = "score";
  score.textContent = result.score.toFixed(3);  // the score the grid is ordered by
  if (result.cosine !== undefined && result.cosine !== result.score) score.title = `cosine ${result.cosine.toFixed(3)}, less its hub penalty`;
  caption.append(name, score);
  button.append(img, caption);
  button.addEventListener("click", () => open(i, button));
  li.append(button);
  return li;
}

// Arrow keys move between tiles, row by row as laid out; Enter opens (a button's own key).
ui.grid.addEventListener("keydown", (event) => {
  const tiles = [...ui.grid.querySelectorAll(".tile")];
  const at = tiles.indexOf(document.activeElement);
  if (at < 0) return;
  const top = tiles[0].getBoundingClientRect().top;
  const columns = Math.max(1, tiles.filter((t) => t.getBoundingClientRect().top === top).length);
  const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns }[event.key];
  if (step === undefined) return;
  event.preventDefault();
  tiles[Math.min(tiles.length - 1, Math.max(0, at + step))].focus();
});

document.addEventListener("keydown", (event) => {
  if (event.key === "/" && document.activeElement.tagName !== "INPUT" && !ui.viewer.open) {
    event.preventDefault();
    ui.q.focus();
  }
});

// -- duplicates: groups of copies side by side (/?view=duplicates&threshold=...&in=...) ------

async function runDuplicates(params) {
  document.title = "Duplicates · xmodal";
  show([], "");
  say("Looking for copies…");
  const mine = ++latest;
  const api = new URLSearchParams();
  for (const name of ["threshold", "in"]) if (params.get(name)) api.set(name, params.get(name));
  try {
    const answer = await getJSON(`/api/duplicates?${api}`);
    if (mine !== latest) return;
    ui.dupThreshold.placeholder = String(answer.threshold);
    const groups = answer.groups.slice(0, MAX_GROUPS);
    shown = groups.flatMap((group) => group.photos.map((photo) => ({ ...photo, score: photo.closest.score })));
    let next = 0;
    ui.groups.replaceChildren(...groups.map((group) => groupView(group, () => next++)));
    say(duplicatesFound(answer, groups.length));
  } catch (error) {
    if (mine === latest) say(error.message, true);
  }
}

function duplicatesFound(answer, drawn) {
  const where = `among ${count(answer.photos, "photo")} at threshold ${answer.threshold}`;
  if (!answer.groups.length) return `No copies ${where}`;
  const copies = answer.groups.reduce((n, group) => n + group.photos.length, 0);
  const more = drawn < answer.groups.length ? ` · the first ${drawn} shown: narrow with In folder` : "";
  return `${count(answer.groups.length, "group")} of copies (${count(copies, "photo")}) ${where}, largest first · nothing is deleted${more}`;
}

function groupView(group, nextIndex) {
  const section = document.createElement("section");
  section.className = "group";
  const heading = document.createElement("h2");
  heading.textContent = `${group.photos.length} ${group.kind === "exact" ? "exact copies" : "copies"}`;
  const row = document.createElement("ul");
  row.className = group.photos.length > 8 ? "copies many" : "copies";  // a big group wraps: no endless sideways row
  row.append(...group.photos.map((photo) => copyTile(photo, nextIndex())));
  section.append(heading, row);
  return section;
}

function copyTile(photo, i) {
  const li = tile(shown[i], i);
  li.querySelector(".score").remove();  // the score is in the facts, with the photo it is to
  const link = photo.closest.same_file ? `same file as ${baseName(photo.closest.path)} (a link)`
    : photo.closest.exact ? "exact copy" : `${photo.closest.score.toFixed(3)} to ${baseName(photo.closest.path)}`;
  const facts = document.createElement("span");
  facts.className = "facts";
  facts.textContent = `${photo.width} × ${photo.height} · ${bytes(photo.bytes)} · ${link}`;
  li.querySelector(".tile").append(facts);
  return li;
}

// The duplicates view as its threshold box and the folder option say (the button starts at the default threshold).
const duplicatesState = (threshold = ui.dupThreshold.value) => ({ view: "duplicates", threshold, in: ui.within.value.trim() });
$("show-duplicates").addEventListener("click", () => go(duplicatesState("")));
ui.dupForm.addEventListener("submit", (event) => {
  event.preventDefault();
  go(duplicatesState());
});

// -- one photo ----------------------------------------------------------------------------

async function open(i, from) {
  current = shown[i];
  opener = from;
  const path = current.path;
  ui.viewerImg.src = thumb(path, 1280);
  ui.viewerImg.alt = baseName(path);
  ui.name.textContent = baseName(path);
  ui.path.textContent = path;
  ui.size.textContent = `${current.width} × ${current.height} pixels`;
  ui.taken.textContent = ui.date.textContent = "";
  ui.words.replaceChildren();
  ui.minus.value = ui.plus.value = "";
  ui.viewer.showModal();
  // Each answer shows as it comes: the photo's facts do not wait on (or fail with) its words.
  const still = () => current !== null && current.path === path;
  const facts = getJSON(`/api/photo?${new URLSearchParams({ path })}`).then((facts) => {
    if (!still()) return;
    ui.size.textContent = `${facts.width} × ${facts.height} pixels · ${bytes(facts.bytes)}`;
    ui.taken.textContent = taken(facts);
    ui.date.textContent = `modified ${new Date(facts.modified).toLocaleString()}${facts.exists ? "" : " · the file is gone"}`;
  }, (error) => { if (still()) ui.date.textContent = error.message; });
  const words = getJSON(`/api/words?${new URLSearchParams({ q: path, k: 10 })}`).then((words) => {
    if (still()) ui.words.replaceChildren(...words.results.map((hit) => chip(hit.word)));
  }, (error) => { if (still()) ui.words.textContent = error.message; });
  await Promise.all([facts, words]);
}

// When the photo was taken, as its camera's clock read there (the stored offset left out), and with what.
function taken(facts) {
  const camera = facts.camera ? ` · ${facts.camera}` : "";
  if (facts.taken_from === "exif") return `taken ${new Date(facts.taken.slice(0, 19)).toLocaleString()}${camera}`;
  if (facts.taken_from === "mtime") return `no date taken in the file: dated by its file time${camera}`;
  return facts.camera || "";  // an index from before dates: the next xmodal index adds them
}

function chip(word) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = word;
  button.title = `Search for “${word}”`;
  button.addEventListener("click", () => leave({ q: word }));
  return button;
}

function bytes(n) {
  const units = ["bytes", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

function leave(state) {  // close the viewer and search for something else
  opener = null;  // the tile is about to be replaced: focus goes to the new results
  focusResults = true;
  ui.viewer.close();
  go({ ...stateFromForm(), ...state });
}

$("more-like").addEventListener("click", () => leave({ q: current.path, using: "visual" }));
$("same-meaning").addEventListener("click", () => leave({ q: current.path, using: "semantic" }));
$("viewer-close").addEventListener("click", () => ui.viewer.close());
ui.viewerImg.addEventListener("load", () => {  // a small photo at most twice its size, not blown up to a blur
  const width = ui.viewerImg.naturalWidth;
  ui.viewerImg.style.maxWidth = width && width < 640 ? `min(100%, ${2 * width}px)` : "";
});
ui.viewer.addEventListener("close", () => {
  current = null;
  if (opener && opener.isConnected) opener.focus();
});
ui.analogy.addEventListener("submit", (event) => {
  event.preventDefault();
  leave({ q: `${photoTerm(current.path)} - ${ui.minus.value.trim()} + ${ui.plus.value.trim()}` });
});

// -- searching by a photo of one's own: sent, embedded, never stored -----------------------

async function searchByFile(file) {
  if (!file) return;
  if (file.size > MAX_UPLOAD) {
    say(`${file.name} is over the 25 MB limit`, true);
    return;
  }
  say(`Searching by ${file.name}…`);
  const params = new URLSearchParams({ name: file.name, k: ui.k.value || "24" });
  for (const name of FILTERS) if (filterInputs[name].value.trim()) params.set(name, filterInputs[name].value.trim());
  try {
    const answer = await getJSON(`/api/upload?${params}`, {
      method: "POST", body: file, headers: { "Content-Type": file.type || "application/octet-stream" },
    });
    // What is shown is no longer the URL's query: say so in the box, the URL and the title.
    const kept = new URLSearchParams(Object.entries(stateFromForm()).filter(([name, v]) => v && name !== "q"));
    history.pushState(null, "", `/?${kept}`);  // the options it used stay; the query is the photo, which has no URL
    ui.q.value = "";
    document.title = `like ${file.name} · xmodal`;
    const n = answer.results.length;
    show(answer.results, `${count(n, "photo")} that ${agree(n, "look")} like ${file.name}`);
  } catch (error) {
    show([], "");
    say(error.message, true);
  }
}

ui.pick.addEventListener("change", () => { searchByFile(ui.pick.files[0]); ui.pick.value = ""; });
let depth = 0;  // dragenter/dragleave fire for every child crossed
document.addEventListener("dragenter", (event) => { event.preventDefault(); depth += 1; document.body.classList.add("dragging"); });
document.addEventListener("dragleave", () => { depth = Math.max(0, depth - 1); if (!depth) document.body.classList.remove("dragging"); });
document.addEventListener("dragover", (event) => event.preventDefault());
document.addEventListener("drop", (event) => {
  event.preventDefault();
  depth = 0;
  document.body.classList.remove("dragging");
  const file = [...(event.dataTransfer ? event.dataTransfer.files : [])].find((f) => f.type.startsWith("image/") || !f.type);
  if (file) searchByFile(file);
  else say("Drop a photo file to search by it", true);
});

// -- start ----------------------------------------------------------------------------------

ui.form.addEventListener("submit", (event) => {
  event.preventDefault();
  const now = new URLSearchParams(location.search);
  if (now.get("view") === "duplicates" && !ui.q.value.trim()) {  // Enter in In folder there: the duplicates again
    go(duplicatesState());
    return;
  }
  if (!ui.q.value.trim()) {  // as the CLI says it; the photos shown stay
    say("empty query: give at least one word, phrase or image", true);
    ui.q.focus();
    return;
  }
  // The same query again (new options): the same kind of search ("More like this", "Same meaning").
  const same = now.get("using") && now.get("q") === ui.q.value.trim();
  go(stateFromForm(same ? { using: now.get("using") } : {}));
});
// An option out of range inside the closed Options would block the search without a word: show it.
document.addEventListener("invalid", (event) => { if (event.target.form === ui.form) ui.options.open = true; }, true);
window.addEventListener("popstate", () => {
  const params = new URLSearchParams(location.search);
  formFromState(params);
  run(params);
});
{
  const params = new URLSearchParams(location.search);
  formFromState(params);
  run(params);
}

/* landscape-bench site: sorting and filtering of the tables, done by list.js (list.min.js).
 *
 * Each <div class="board"> holds a <table> whose <tbody class="list"> rows carry their values as
 * data-* attributes (full precision; "" where undefined). Column headers with data-sort become
 * sort buttons (first click: the score's better direction, data-first); <select data-filter>
 * menus keep the rows whose attribute equals the chosen value. Undefined numbers sort last in
 * both directions. Without JavaScript the tables are plain HTML, in the CSV's order.
 */
(function () {
  "use strict";

  function toNumber(text) {
    return text === "" || text === null || text === undefined ? NaN : Number(text);
  }

  function setUp(board) {
    if (!board.querySelector("tbody.list tr")) return; // list.js needs one row to start from
    var heads = Array.prototype.slice.call(board.querySelectorAll("thead th[data-sort]"));
    var menus = Array.prototype.slice.call(board.querySelectorAll("select[data-filter]"));
    var numeric = {};
    var names = [];
    heads.forEach(function (th) {
      var name = th.getAttribute("data-sort");
      if (th.hasAttribute("data-numeric")) numeric[name] = true;
      if (names.indexOf(name) < 0) names.push(name);
    });
    menus.forEach(function (menu) {
      var name = menu.getAttribute("data-filter");
      if (names.indexOf(name) < 0) names.push(name);
    });
    var list = new List(board, {
      valueNames: [{ data: names }],
      page: 1000000,
      sortFunction: function (a, b, options) {
        var name = options.valueName;
        var x = a.values()[name];
        var y = b.values()[name];
        if (numeric[name]) {
          x = toNumber(x);
          y = toNumber(y);
          // list.js multiplies the result by -1 for "desc": undefined values go last either way
          var flip = options.order === "desc" ? -1 : 1;
          if (isNaN(x) || isNaN(y)) return isNaN(x) === isNaN(y) ? 0 : (isNaN(x) ? 1 : -1) * flip;
          return x - y;
        }
        return x < y ? -1 : x > y ? 1 : 0;
      },
    });

    var count = board.querySelector("[data-count]");
    function showCount() {
      if (count) count.textContent = list.matchingItems.length + " of " + list.items.length + " rows";
    }

    heads.forEach(function (th) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort-button";
      while (th.firstChild) button.appendChild(th.firstChild);
      th.appendChild(button);
      button.addEventListener("click", function () {
        var now = th.getAttribute("aria-sort");
        var first = th.getAttribute("data-first") === "desc" ? "desc" : "asc";
        var order = now === "descending" ? "asc" : now === "ascending" ? "desc" : first;
        heads.forEach(function (other) {
          other.removeAttribute("aria-sort");
        });
        th.setAttribute("aria-sort", order === "desc" ? "descending" : "ascending");
        list.sort(th.getAttribute("data-sort"), { order: order });
      });
    });

    function applyFilters() {
      var chosen = menus
        .filter(function (menu) {
          return menu.value !== "";
        })
        .map(function (menu) {
          return [menu.getAttribute("data-filter"), menu.value];
        });
      if (chosen.length === 0) {
        list.filter();
      } else {
        list.filter(function (item) {
          var values = item.values();
          return chosen.every(function (pair) {
            return values[pair[0]] === pair[1];
          });
        });
      }
      showCount();
    }
    menus.forEach(function (menu) {
      menu.addEventListener("change", applyFilters);
    });

    var controls = board.querySelector(".filters");
    if (controls) controls.hidden = false;
    showCount();
  }

  function start() {
    if (typeof List !== "function") return;
    Array.prototype.slice.call(document.querySelectorAll("div.board")).forEach(setUp);
    document.documentElement.classList.add("js");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

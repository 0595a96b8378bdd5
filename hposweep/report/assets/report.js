/* hposweep report: draw each figure with plotly.js, and sort the trials table by a clicked column. */
(function(){
  var figs = JSON.parse(document.getElementById("hposweep-figures").textContent);
  var config = JSON.parse(document.getElementById("hposweep-config").textContent);
  Object.keys(figs).forEach(function(id){
    var el = document.getElementById(id);
    try { Plotly.newPlot(el, figs[id].data, figs[id].layout, config); }
    catch (e) { el.textContent = "could not draw this figure: " + e; }
  });
})();

// Sort a table by a column: numbers numerically, text alphabetically, empty cells last.
document.querySelectorAll("table.sortable").forEach(function(table){
  table.querySelectorAll("th").forEach(function(th, col){
    th.addEventListener("click", function(){
      var asc = !th.classList.contains("asc");
      table.querySelectorAll("th").forEach(function(h){h.classList.remove("asc","desc");});
      th.classList.add(asc ? "asc" : "desc");
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      rows.sort(function(a, b){
        var x = a.cells[col].getAttribute("data-v"), y = b.cells[col].getAttribute("data-v");
        if (x === "" || y === "") return (x === "") - (y === "");
        var nx = Number(x), ny = Number(y), c;
        if (!isNaN(nx) && !isNaN(ny)) c = nx - ny; else c = x < y ? -1 : (x > y ? 1 : 0);
        return asc ? c : -c;
      });
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
});

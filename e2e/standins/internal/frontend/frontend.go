// Package frontend stands in for the example app's React frontend (lyzhang1999/frontend, a
// Create-React-App dev server on port 3000): every path answers with the app's index.html
// (historyApiFallback), carrying the same title, root element and noscript text. A small inline
// script renders the same Add/Clear UI against the relative /api routes, so a browser still works.
package frontend

import (
	"net/http"
)

// Page is the HTML served for every path.
const Page = `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <meta name="theme-color" content="#000000" />
    <meta name="description" content="Web site created using create-react-app" />
    <title>React App</title>
  </head>
  <body>
    <noscript>You need to enable JavaScript to run this app.</noscript>
    <div id="root"></div>
    <script>
    (function () {
      var root = document.getElementById("root");
      root.innerHTML = '<h1>Hi! I\'m from default namespaces!</h1>' +
        '<input id="text" /> <button id="add">Add</button> <button id="clear">Clear</button><ul id="texts"></ul>';
      function load() {
        fetch("/api/fetch").then(function (r) { return r.json(); }).then(function (d) {
          var ul = document.getElementById("texts"); ul.innerHTML = "";
          (d.texts || []).forEach(function (t) { var li = document.createElement("li"); li.textContent = t.text; ul.appendChild(li); });
        });
      }
      document.getElementById("add").onclick = function () {
        fetch("/api/add", {method: "POST", headers: {"Content-Type": "application/json"},
          body: JSON.stringify({text: document.getElementById("text").value})}).then(load);
      };
      document.getElementById("clear").onclick = function () { fetch("/api/delete", {method: "DELETE"}).then(load); };
      load();
    })();
    </script>
  </body>
</html>
`

// NewHandler serves Page for every GET/HEAD path, as the CRA dev server's history fallback does.
func NewHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "Cannot "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Accept-Ranges", "bytes")
		_, _ = w.Write([]byte(Page))
	})
}

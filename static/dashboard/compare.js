// Compare page: embed the server-built figures (static; the experiment pages are the live view).
Bokeh.embed.embed_item(JSON.parse(document.getElementById("lab-figure").textContent), "plots");

/// A Figure as plotly.js figure JSON ({data, layout, config}) in plotly.js 3 conventions
/// (titles are objects: `title: {text}`), written with System.Text.Json's Utf8JsonWriter.
module Research.Analysis.Plotly.FigureJson

open System
open System.IO
open System.Text.Encodings.Web
open System.Text.Json

let private axisSuffix k = if k = 1 then "" else string k

/// JSON has no NaN or infinity; plotly reads null as a gap.
let private writeNumberValues (w: Utf8JsonWriter) (values: float[]) =
    for v in values do
        if Double.IsFinite v then w.WriteNumberValue v else w.WriteNullValue()
    w.WriteEndArray()

let private writeNumbers (w: Utf8JsonWriter) (name: string) (values: float[]) =
    w.WriteStartArray name
    writeNumberValues w values

let private writeStrings (w: Utf8JsonWriter) (name: string) (values: string[]) =
    w.WriteStartArray name
    for v in values do
        w.WriteStringValue v
    w.WriteEndArray()

let private writeTitle (w: Utf8JsonWriter) (title: string option) =
    title
    |> Option.iter (fun text ->
        w.WriteStartObject "title"
        w.WriteString("text", text)
        w.WriteEndObject())

let private writeTrace (w: Utf8JsonWriter) (trace: Trace) =
    w.WriteStartObject()
    match trace.Data with
    | Scatter(x, y, mode, color, markerColor, text) ->
        w.WriteString("type", "scatter")
        w.WriteString(
            "mode",
            match mode with
            | Lines -> "lines"
            | Markers -> "markers"
            | LinesMarkers -> "lines+markers"
        )
        writeNumbers w "x" x
        writeNumbers w "y" y
        color
        |> Option.iter (fun c ->
            w.WriteStartObject "line"
            w.WriteString("color", c)
            w.WriteEndObject())
        match markerColor, color with
        | Some colors, _ ->
            w.WriteStartObject "marker"
            writeNumbers w "color" colors
            w.WriteString("colorscale", "Viridis")
            w.WriteBoolean("showscale", true)
            w.WriteEndObject()
        | None, Some c ->
            w.WriteStartObject "marker"
            w.WriteString("color", c)
            w.WriteEndObject()
        | None, None -> ()
        text |> Option.iter (writeStrings w "text")
    | Heatmap(z, x, y, colorScale) ->
        w.WriteString("type", "heatmap")
        w.WriteStartArray "z"
        for row in z do
            w.WriteStartArray()
            writeNumberValues w row
        w.WriteEndArray()
        x |> Option.iter (writeNumbers w "x")
        y |> Option.iter (writeNumbers w "y")
        colorScale |> Option.iter (fun s -> w.WriteString("colorscale", s))
    | Image source ->
        w.WriteString("type", "image")
        w.WriteString("source", source)
        w.WriteString("hoverinfo", "x+y")
    | Histogram(x, nBins) ->
        w.WriteString("type", "histogram")
        writeNumbers w "x" x
        nBins |> Option.iter (fun n -> w.WriteNumber("nbinsx", n))
    | Bar(x, y) ->
        w.WriteString("type", "bar")
        w.WriteStartArray "x"
        for c in x do w.WriteStringValue c
        w.WriteEndArray()
        writeNumbers w "y" y
    trace.Name |> Option.iter (fun name -> w.WriteString("name", name))
    trace.ShowLegend |> Option.iter (fun show -> w.WriteBoolean("showlegend", show))
    if trace.Subplot <> 1 then
        w.WriteString("xaxis", "x" + axisSuffix trace.Subplot)
        w.WriteString("yaxis", "y" + axisSuffix trace.Subplot)
    w.WriteEndObject()

let private writeAxis (w: Utf8JsonWriter) (name: string) (axis: Axis) =
    w.WriteStartObject name
    writeTitle w axis.Title
    if axis.Log then w.WriteString("type", "log")
    axis.Dtick |> Option.iter (fun d -> w.WriteNumber("tick0", 0); w.WriteNumber("dtick", d))
    if not axis.Decorated then
        w.WriteBoolean("showticklabels", false)
        w.WriteBoolean("showgrid", false)
        w.WriteBoolean("zeroline", false)
        w.WriteString("ticks", "")
    w.WriteBoolean("automargin", true)
    w.WriteEndObject()

let private subplots (figure: Figure) =
    let layout = figure.Layout
    [ yield! figure.Traces |> List.map _.Subplot
      yield! Map.keys layout.XAxes
      yield! Map.keys layout.YAxes
      yield! Map.keys layout.SubplotTitles
      yield 1 ]
    |> List.distinct
    |> List.sort

let private writeLayout (w: Utf8JsonWriter) (figure: Figure) =
    let layout = figure.Layout
    w.WriteStartObject "layout"
    writeTitle w layout.Title
    for k in subplots figure do
        let axisOf (axes: Map<int, Axis>) = axes.TryFind k |> Option.defaultValue Axis.Default
        writeAxis w ("xaxis" + axisSuffix k) (axisOf layout.XAxes)
        writeAxis w ("yaxis" + axisSuffix k) (axisOf layout.YAxes)
    layout.Grid
    |> Option.iter (fun (rows, cols) ->
        w.WriteStartObject "grid"
        w.WriteNumber("rows", rows)
        w.WriteNumber("columns", cols)
        w.WriteString("pattern", "independent")
        w.WriteEndObject())
    if not layout.SubplotTitles.IsEmpty then
        // Titles above each subplot, positioned in that subplot's domain coordinates.
        w.WriteStartArray "annotations"
        for KeyValue(k, text) in layout.SubplotTitles do
            w.WriteStartObject()
            w.WriteString("text", text)
            w.WriteString("xref", $"x{axisSuffix k} domain")
            w.WriteString("yref", $"y{axisSuffix k} domain")
            w.WriteNumber("x", 0.5)
            w.WriteNumber("y", 1.0)
            w.WriteString("xanchor", "center")
            w.WriteString("yanchor", "bottom")
            w.WriteBoolean("showarrow", false)
            w.WriteEndObject()
        w.WriteEndArray()
    layout.Width |> Option.iter (fun v -> w.WriteNumber("width", v))
    layout.Height |> Option.iter (fun v -> w.WriteNumber("height", v))
    w.WriteEndObject()

let private options =
    // Relaxed escaping keeps titles readable (no \uXXXX for every non-ASCII letter); what matters
    // inside <script> is handled by `escapeForScript`.
    JsonWriterOptions(Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping)

/// {"data": [...], "layout": {...}, "config": {...}}
let serialize (figure: Figure) : string =
    use buffer = new MemoryStream()
    using (new Utf8JsonWriter(buffer, options)) (fun w ->
        w.WriteStartObject()
        w.WriteStartArray "data"
        for trace in figure.Traces do
            writeTrace w trace
        w.WriteEndArray()
        writeLayout w figure
        w.WriteStartObject "config"
        w.WriteBoolean("responsive", true)
        w.WriteBoolean("displaylogo", false)
        w.WriteEndObject()
        w.WriteEndObject())
    Text.Encoding.UTF8.GetString(buffer.ToArray())

/// JSON placed inside a <script> element: "</" would end the element early and "<!--" would switch
/// the HTML parser into its escaped state ("<\/" and "\u003C" read back as the same characters),
/// and U+2028/U+2029 are line terminators inside older JavaScript string literals.
let escapeForScript (json: string) =
    json
        .Replace("</", "<\\/")
        .Replace("<!--", "\\u003C!--")
        .Replace("\u2028", "\\u2028")
        .Replace("\u2029", "\\u2029")

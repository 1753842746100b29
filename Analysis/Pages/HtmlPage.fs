namespace Research.Analysis.Pages

open System.IO
open System.Net
open System.Text
open Plotly.NET
open Research.Core.IO

/// A block of a page, top to bottom.
type Section =
    | Heading of level: int * text: string
    | Paragraph of text: string
    /// Inserted as is (tables, images, links the caller built and escaped).
    | Html of html: string
    | Table of headers: string[] * rows: string[][]
    /// A Plotly.NET chart.
    | Plot of GenericChart

/// Self-contained report pages: plotly.js is loaded from plotly.min.js beside the HTML file, so a
/// page opens offline and asks nothing of the network.
[<AbstractClass; Sealed>]
type HtmlPage =
    static let encode (text: string) = WebUtility.HtmlEncode text

    /// plotly.js's own look instead of Plotly.NET's default theme, which would add about 8 kB of
    /// template to every figure.
    static let plain = Template.init (Layout.init ())

    /// Figure JSON inside a <script> element: "</" would end the element and "<!--" change how it
    /// is parsed; U+2028 and U+2029 end lines in older JavaScript. The escapes mean the same in JS.
    static let escapeForScript (json: string) =
        json
            .Replace("</", "<\\/")
            .Replace("<!--", "\\u003C!--")
            .Replace("\u2028", "\\u2028")
            .Replace("\u2029", "\\u2029")

    static let style =
        """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1400px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}
th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.fail td{background:#fde2e2}
.plot{margin:1em 0}
p.note{background:#fff4d6;border-left:4px solid #e0a800;padding:0.5em 1em}
img.raster{image-rendering:pixelated}"""

    /// A table's HTML (cells are text, escaped here).
    static member TableHtml(headers: string[], rows: string[][]) =
        let sb = StringBuilder("<table><thead><tr>")
        for h in headers do
            sb.Append("<th>").Append(encode h).Append("</th>") |> ignore
        sb.Append("</tr></thead><tbody>") |> ignore
        for row in rows do
            sb.Append("<tr>") |> ignore
            for cell in row do
                sb.Append("<td>").Append(encode cell).Append("</td>") |> ignore
            sb.Append("</tr>") |> ignore
        sb.Append("</tbody></table>").ToString()

    /// A chart's figure as Plotly.NET writes it ({"data", "layout", "config"}), in plotly.js's look.
    static member FigureJson(chart: GenericChart) =
        chart |> Chart.withTemplate plain |> GenericChart.toJson

    static member Render(title: string, sections: Section seq) =
        let sb = StringBuilder()
        let line (s: string) = sb.Append(s).Append('\n') |> ignore
        line "<!DOCTYPE html>"
        line "<html lang=\"en\"><head><meta charset=\"utf-8\">"
        line $"<title>{encode title}</title>"
        // An empty icon: otherwise the browser asks for /favicon.ico and logs a failed load.
        line "<link rel=\"icon\" href=\"data:,\">"
        line $"<style>{style}</style>"
        line $"<script src=\"{PlotlyJs.fileName}\"></script>"
        line "</head><body>"
        line $"<h1>{encode title}</h1>"
        let mutable plots = 0
        for section in sections do
            match section with
            | Heading(level, text) ->
                let level = max 1 (min 6 level)
                line $"<h{level}>{encode text}</h{level}>"
            | Paragraph text -> line $"<p>{encode text}</p>"
            | Html html -> line html
            | Table(headers, rows) -> line (HtmlPage.TableHtml(headers, rows))
            | Plot chart ->
                plots <- plots + 1
                let id = $"plot-{plots}"
                // Our own element and call rather than GenericChart.toChartHTML, which neither escapes
                // the JSON for a script element nor names elements reproducibly.
                line $"<div class=\"plot\" id=\"{id}\"></div>"
                line $"<script>Plotly.newPlot(\"{id}\", {escapeForScript (HtmlPage.FigureJson chart)});</script>"
        line "</body></html>"
        sb.ToString()

    /// Checks, before the work of a page, that `page` can be written into `outFolder` (created if
    /// missing): one line naming --out otherwise, not an error after minutes of work.
    static member CheckFolder(outFolder: string, page: string) =
        if File.Exists outFolder then invalidArg "out" $"--out {outFolder} is a file; give a folder for {page}"
        // A page's name given where its folder belongs would become a folder of that name.
        if Path.TrimEndingDirectorySeparator(outFolder).EndsWith(".html", System.StringComparison.OrdinalIgnoreCase) then
            let folder = match Path.GetDirectoryName(Path.TrimEndingDirectorySeparator outFolder) with "" | null -> "." | f -> f
            invalidArg "out" $"--out {outFolder} names a page; give the folder for {page} (--out {folder})"
        try Directory.CreateDirectory outFolder |> ignore
        with :? IOException | :? System.UnauthorizedAccessException as e -> raise (Research.Core.Training.RunFolder.NotWritable(outFolder, e))

    /// Writes the page (atomically) and puts plotly.min.js beside it; returns the full path.
    static member Save(path: string, title: string, sections: Section seq) =
        let full = Path.GetFullPath path
        let html = HtmlPage.Render(title, sections)
        PlotlyJs.copyBeside (Path.GetDirectoryName full)
        AtomicFile.writeText full html
        full

module Research.Analysis.Tests.PlotlyTests

open System
open System.IO
open System.Text.Json
open Expecto
open Research.Tests.Checks
open Research.Core.IO
open Research.Analysis.Plotly
open Research.Analysis.Tests.TestSupport

let private json (figure: Figure) = JsonDocument.Parse(FigureJson.serialize figure).RootElement

[<Tests>]
let tests =
    testList "PlotlyTests" [
        testCase "titles use plotly 3 objects and log axes set type" <| fun () ->
            let fig =
                Chart.Line([ 1.0; 10.0; 100.0 ], [ 3.0; 2.0; 1.0 ], Name = "loss")
                |> Chart.withTitle "Training"
                |> Chart.withXAxisTitle "step"
                |> Chart.withYAxisTitle "nats"
                |> Chart.withXAxisLog
                |> Chart.withSize (640, 480)
                |> json
            let layout = fig.GetProperty "layout"
            Expect.equal (layout.GetProperty("title").GetProperty("text").GetString()) "Training" "layout.GetProperty(\"title\").GetProperty(\"text\").GetString()"
            Expect.equal (layout.GetProperty("xaxis").GetProperty("title").GetProperty("text").GetString()) "step" "layout.GetProperty(\"xaxis\").GetProperty(\"title\").GetProperty(\"text\").GetString()"
            Expect.equal (layout.GetProperty("yaxis").GetProperty("title").GetProperty("text").GetString()) "nats" "layout.GetProperty(\"yaxis\").GetProperty(\"title\").GetProperty(\"text\").GetString()"
            Expect.equal (layout.GetProperty("xaxis").GetProperty("type").GetString()) "log" "layout.GetProperty(\"xaxis\").GetProperty(\"type\").GetString()"
            Expect.isFalse (layout.GetProperty("yaxis").TryGetProperty("type") |> fst) "layout.GetProperty(\"yaxis\").TryGetProperty(\"type\") |> fst"
            Expect.equal (layout.GetProperty("width").GetInt32()) 640 "layout.GetProperty(\"width\").GetInt32()"
            let trace = fig.GetProperty("data")[0]
            Expect.equal (trace.GetProperty("type").GetString()) "scatter" "trace.GetProperty(\"type\").GetString()"
            Expect.equal (trace.GetProperty("mode").GetString()) "lines" "trace.GetProperty(\"mode\").GetString()"
            Expect.equal (trace.GetProperty("name").GetString()) "loss" "trace.GetProperty(\"name\").GetString()"
            Expect.equal (trace.GetProperty("y").EnumerateArray() |> Seq.map _.GetDouble() |> Array.ofSeq) ([| 3.0; 2.0; 1.0 |]) "trace.GetProperty(\"y\").EnumerateArray() |> Seq.map _.GetDouble() |> Array.ofSeq"
        testCase "non-finite numbers become null gaps" <| fun () ->
            let trace = (json (Chart.Line([ 1.0; 2.0; 3.0 ], [ 1.0; nan; infinity ]))).GetProperty("data")[0]
            let y = trace.GetProperty("y").EnumerateArray() |> Seq.map _.ValueKind |> Array.ofSeq
            Expect.equal y ([| JsonValueKind.Number; JsonValueKind.Null; JsonValueKind.Null |]) "y"
        testCase "grid puts each figure on its own axes with its title above" <| fun () ->
            let a = Chart.Line([ 0.0; 1.0 ], [ 0.0; 1.0 ]) |> Chart.withTitle "left" |> Chart.withYAxisTitle "y-left" |> Chart.withYAxisLog
            let b = Chart.combine [ Chart.Histogram([ 1.0; 2.0; 2.0 ], NBins = 4); Chart.Line([ 0.0 ], [ 1.0 ]) ] |> Chart.withTitle "right"
            let fig = [ a; b ] |> Chart.Grid(1, 2) |> Chart.withTitle "both" |> json
            let data = fig.GetProperty("data").EnumerateArray() |> Array.ofSeq
            Expect.isFalse (data[0].TryGetProperty("xaxis") |> fst) "data[0].TryGetProperty(\"xaxis\") |> fst" // first subplot: the default axes
            Expect.equal (data[1].GetProperty("xaxis").GetString()) "x2" "data[1].GetProperty(\"xaxis\").GetString()"
            Expect.equal (data[2].GetProperty("yaxis").GetString()) "y2" "data[2].GetProperty(\"yaxis\").GetString()"
            Expect.equal (data[1].GetProperty("nbinsx").GetInt32()) 4 "data[1].GetProperty(\"nbinsx\").GetInt32()"
            let layout = fig.GetProperty "layout"
            Expect.equal (layout.GetProperty("grid").GetProperty("columns").GetInt32()) 2 "layout.GetProperty(\"grid\").GetProperty(\"columns\").GetInt32()"
            Expect.equal (layout.GetProperty("yaxis").GetProperty("type").GetString()) "log" "layout.GetProperty(\"yaxis\").GetProperty(\"type\").GetString()"
            Expect.equal (layout.GetProperty("yaxis").GetProperty("title").GetProperty("text").GetString()) "y-left" "layout.GetProperty(\"yaxis\").GetProperty(\"title\").GetProperty(\"text\").GetString()"
            Expect.isTrue (layout.TryGetProperty("yaxis2") |> fst) "layout.TryGetProperty(\"yaxis2\") |> fst"
            let titles = layout.GetProperty("annotations").EnumerateArray() |> Seq.map (fun a -> a.GetProperty("text").GetString(), a.GetProperty("xref").GetString()) |> List.ofSeq
            Expect.equal titles ([ "left", "x domain"; "right", "x2 domain" ]) "titles"
            Expect.equal (layout.GetProperty("title").GetProperty("text").GetString()) "both" "layout.GetProperty(\"title\").GetProperty(\"text\").GetString()"
        testCase "image traces carry the PNG as a data URI" <| fun () ->
            let png = Png.EncodeGray(2, 2, [| 0uy; 255uy; 255uy; 0uy |])
            let trace = (json (Chart.Image png)).GetProperty("data")[0]
            Expect.equal (trace.GetProperty("type").GetString()) "image" "trace.GetProperty(\"type\").GetString()"
            Expect.equal (trace.GetProperty("source").GetString()) ("data:image/png;base64," + Convert.ToBase64String png) "trace.GetProperty(\"source\").GetString()"
            raises<ArgumentException> (fun () -> Chart.Image [| 1uy; 2uy; 3uy |] |> ignore) |> ignore
        testCase "text that could end the script element is escaped in the page" <| fun () ->
            let title = "a </script><script>alert(1)</script> <!-- b \u2028 c \u2029"
            let html = HtmlPage.Render("page", [ Plot(Chart.Line([ 1.0 ], [ 1.0 ], Name = "n") |> Chart.withTitle title) ])
            let script = html.Substring(html.IndexOf "Plotly.newPlot")
            let script = script.Substring(0, script.IndexOf "</script>")
            Expect.isFalse (html.Contains "\u2028") "html does not contain \"\\u2028\""
            Expect.isFalse (html.Contains "\u2029") "html does not contain \"\\u2029\""
            Expect.isFalse (script.Contains "<!--") "script does not contain \"<!--\""
            // What the script element holds is still the figure with the exact title (as JavaScript reads it).
            let literal = script.Substring(script.IndexOf '{', script.LastIndexOf '}' - script.IndexOf '{' + 1)
            let parsed = JsonDocument.Parse(literal).RootElement
            Expect.equal (parsed.GetProperty("layout").GetProperty("title").GetProperty("text").GetString()) title "parsed.GetProperty(\"layout\").GetProperty(\"title\").GetProperty(\"text\").GetString()"
        testCase "saved pages load plotly.min.js from their own folder" <| fun () ->
            use temp = new TempFolder "page"
            let path = Path.Combine(temp.Path, "nested", "fig.html")
            Chart.Line([ 1.0; 2.0 ], [ 2.0; 1.0 ]) |> Chart.withTitle "t" |> Chart.saveHtml path
            let html = File.ReadAllText path
            Expect.stringContains html ("<script src=\"plotly.min.js\"></script>") "html"
            let copied = Path.Combine(temp.Path, "nested", "plotly.min.js")
            Expect.equal (FileInfo(copied).Length) (FileInfo(PlotlyJs.locate ()).Length) "FileInfo(copied).Length"
            Expect.isEmpty (Directory.GetFiles(Path.GetDirectoryName path, "*.tmp")) "Directory.GetFiles(Path.GetDirectoryName path, \"*.tmp\")"
    ]

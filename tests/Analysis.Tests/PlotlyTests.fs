/// The figures as Plotly.NET writes them into our pages: what the report's panels and verify's
/// figures set, the slider over image frames, and the page around them.
module Research.Analysis.Tests.PlotlyTests

open System
open System.IO
open System.Text.Json
open Expecto
open Plotly.NET
open Research.Tests.Checks
open Research.Core.IO
open Research.Core.Training
open Research.Analysis.Pages
open Research.Analysis.Report
open Research.Analysis.Tests.TestSupport

let private json (chart: GenericChart) = JsonDocument.Parse(HtmlPage.FigureJson chart).RootElement

let private numbers (e: JsonElement) = e.EnumerateArray() |> Seq.map _.GetDouble() |> Array.ofSeq

/// The charts of a report's sections.
let private charts (sections: Section list) = sections |> List.choose (function Plot chart -> Some chart | _ -> None)

let private run (panels: Panel list) =
    { Name = "run"
      Config = [||]
      Metrics = { Columns = [| "epoch" |]; Rows = [||] }
      Headline = None
      Panels = panels }

let private png (value: byte) = Png.EncodeGray(2, 2, Array.create 4 value)

[<Tests>]
let tests =
    testList "PlotlyTests" [
        testCase "a curve panel has its titles, markers, reference line and ticks on whole epochs" <| fun () ->
            let series = [ { Name = "train_elbo"; X = [| 1.0; 2.0; 3.0 |]; Y = [| -3.0; -2.0; -1.0 |] } ]
            let sections = Report.Sections([ run [ Curves("elbo", "nats", series, [ "optimum", -0.5 ]) ] ], [])
            let fig = json (charts sections |> List.exactlyOne)
            let layout = fig.GetProperty "layout"
            Expect.equal (layout.GetProperty("title").GetProperty("text").GetString()) "run: elbo" "the figure's title"
            Expect.equal (layout.GetProperty("yaxis").GetProperty("title").GetProperty("text").GetString()) "nats" "the y axis title"
            let x = layout.GetProperty "xaxis"
            Expect.equal (x.GetProperty("title").GetProperty("text").GetString()) "epoch" "the x axis title"
            Expect.equal (x.GetProperty("tick0").GetDouble(), x.GetProperty("dtick").GetDouble()) (0.0, 1.0) "ticks from 0 every whole epoch"
            // As wide as the page (no width: plotly.js fits the container and follows the window), 450 high.
            Expect.isFalse (layout.TryGetProperty "width" |> fst) "no fixed width"
            Expect.equal (layout.GetProperty("height").GetInt32()) 450 "the figure's height"
            Expect.isTrue (layout.GetProperty("autosize").GetBoolean()) "autosize"
            Expect.isTrue (fig.GetProperty("config").GetProperty("responsive").GetBoolean()) "it follows the window's width"
            Expect.isEmpty (layout.GetProperty("template").GetProperty("layout").EnumerateObject() |> List.ofSeq) "Plotly.NET's theme (plotly.js's own look instead)"
            let traces = fig.GetProperty("data").EnumerateArray() |> Array.ofSeq
            let describe (t: JsonElement) = t.GetProperty("type").GetString(), t.GetProperty("mode").GetString(), t.GetProperty("name").GetString()
            Expect.equal (traces |> Array.map describe) [| "scatter", "lines+markers", "train_elbo"; "scatter", "lines", "optimum" |] "the traces"
            Expect.equal (numbers (traces[0].GetProperty "y")) [| -3.0; -2.0; -1.0 |] "the curve's values"
            Expect.equal (numbers (traces[1].GetProperty "x"), numbers (traces[1].GetProperty "y")) ([| 1.0; 3.0 |], [| -0.5; -0.5 |]) "the reference line spans the epochs"
        testCase "the comparison draws one headline chart per metric, its axis titled, and names the runs without one" <| fun () ->
            let metrics column = { Columns = [| "epoch"; column |]; Rows = [| [| 1.0; 2.0 |]; [| 2.0; 1.5 |] |] }
            let withHeadline name column better = { run [] with Name = name; Metrics = metrics column; Headline = Some { Column = column; Better = better } }
            let runs = [ withHeadline "vae-a" "val_elbo" Higher; withHeadline "flow" "val_bpd" Lower; withHeadline "vae-b" "val_elbo" Higher
                         { run [] with Name = "gan"; Metrics = metrics "d_loss" } ]
            let sections = Report.Sections(runs, [])
            let headline =
                charts sections
                |> List.map json
                |> List.filter (fun f -> f.GetProperty("layout").GetProperty("title").GetProperty("text").GetString().StartsWith "Headline")
            let describe (f: JsonElement) =
                let layout = f.GetProperty "layout"
                layout.GetProperty("yaxis").GetProperty("title").GetProperty("text").GetString(),
                f.GetProperty("data").EnumerateArray() |> Seq.map (fun t -> t.GetProperty("name").GetString()) |> List.ofSeq
            Expect.equal (headline |> List.map describe) [ "val_elbo", [ "vae-a"; "vae-b" ]; "val_bpd", [ "flow" ] ] "one chart per unit, the y axis titled"
            let notes = sections |> List.choose (function Paragraph p when p.StartsWith "No headline" -> Some p | _ -> None)
            Expect.equal notes.Length 1 "one note"
            Expect.stringContains notes.Head "gan" "the GAN is named"
        testCase "bar charts put every category on a category axis" <| fun () ->
            let sections = Report.Sections([ run [ Bars("Predicted classes", "class", [ for d in 0..9 -> string d ], [ "samples", Array.init 10 float ]) ] ], [])
            let x = (json (charts sections |> List.exactlyOne)).GetProperty("layout").GetProperty("xaxis")
            Expect.equal (x.GetProperty("type").GetString()) "category" "a category axis"
            Expect.equal (x.GetProperty("title").GetProperty("text").GetString()) "class" "its title"
        testCase "long runs tick about ten times, on whole epochs" <| fun () ->
            let series = [ { Name = "bpd"; X = Array.init 150 (fun i -> float (i + 1)); Y = Array.create 150 1.0 } ]
            let fig = json (charts (Report.Sections([ run [ Curves("bpd", "bits", series, []) ] ], [])) |> List.exactlyOne)
            Expect.equal (fig.GetProperty("layout").GetProperty("xaxis").GetProperty("dtick").GetDouble()) 15.0 "the tick step for 150 epochs"
        testCase "log axes set their type, and non-finite numbers reach plotly.js as gaps" <| fun () ->
            let fig =
                Chart.Line([ 1.0; 10.0; 100.0 ], [ 1.0; nan; infinity ])
                |> Chart.withXAxisStyle("k", AxisType = StyleParam.AxisType.Log)
                |> json
            Expect.equal (fig.GetProperty("layout").GetProperty("xaxis").GetProperty("type").GetString()) "log" "the x axis type"
            Expect.isFalse (fig.GetProperty("layout").TryGetProperty("yaxis") |> fst) "the y axis keeps plotly's defaults (linear)"
            // plotly.js reads a value that is not a number as a missing point (the browser test draws one).
            let y = (fig.GetProperty("data").[0]).GetProperty("y").EnumerateArray() |> Seq.map _.ValueKind |> Array.ofSeq
            Expect.equal y [| JsonValueKind.Number; JsonValueKind.String; JsonValueKind.String |] "the y values"
        testCase "verify's estimator figure puts each panel on its own axes with its title above" <| fun () ->
            let figure =
                verifyResult.Value.Figures
                |> Array.map json
                |> Array.find (fun f -> f.GetProperty("layout").GetProperty("title").GetProperty("text").GetString().StartsWith "Estimating log p(x)")
            let data = figure.GetProperty("data").EnumerateArray() |> Array.ofSeq
            Expect.equal (data |> Array.map (fun t -> t.GetProperty("xaxis").GetString())) [| "x"; "x"; "x2"; "x2" |] "the traces' x axes"
            Expect.equal (data |> Array.map (fun t -> t.GetProperty("yaxis").GetString())) [| "y"; "y"; "y2"; "y2" |] "the traces' y axes"
            let layout = figure.GetProperty "layout"
            Expect.equal (layout.GetProperty("grid").GetProperty("columns").GetInt32()) 2 "the grid's columns"
            Expect.equal (layout.GetProperty("yaxis").GetProperty("type").GetString()) "log" "the RMSE axis type"
            Expect.equal (layout.GetProperty("yaxis").GetProperty("title").GetProperty("text").GetString()) "nats (log scale)" "the RMSE axis title"
            Expect.equal (layout.GetProperty("yaxis2").GetProperty("type").GetString()) "linear" "the bias axis type"
            let titles = layout.GetProperty("annotations").EnumerateArray() |> Seq.map (fun a -> a.GetProperty("text").GetString()) |> List.ofSeq
            Expect.equal titles [ "RMSE of log p(x) estimate"; "bias of log p(x) estimate" ] "the subplot titles"
        testCase "an image panel is one figure with a slider over its frames, the last one shown" <| fun () ->
            let frames = [ for epoch, value in [ 0, 0uy; 1, 128uy; 5, 255uy ] -> $"epoch {epoch}", png value ]
            let sections = Report.Sections([ run [ Images("samples", "means", frames) ] ], [])
            let fig = json (charts sections |> List.exactlyOne)
            let traces = fig.GetProperty("data").EnumerateArray() |> Array.ofSeq
            Expect.equal (traces |> Array.map (fun t -> t.GetProperty("type").GetString())) [| "image"; "image"; "image" |] "one image trace per frame"
            Expect.equal (traces |> Array.map (fun t -> t.GetProperty("source").GetString())) [| for _, p in frames -> "data:image/png;base64," + Convert.ToBase64String p |] "the PNGs as data URIs"
            Expect.equal (traces |> Array.map (fun t -> t.GetProperty("visible").GetBoolean())) [| false; false; true |] "only the last frame visible"
            let slider = fig.GetProperty("layout").GetProperty("sliders")[0]
            Expect.equal (slider.GetProperty("active").GetInt32()) 2 "the slider starts at the last frame"
            let steps = slider.GetProperty("steps").EnumerateArray() |> Array.ofSeq
            Expect.equal (steps |> Array.map (fun s -> s.GetProperty("label").GetString())) [| "epoch 0"; "epoch 1"; "epoch 5" |] "the step labels"
            Expect.equal (steps |> Array.map (fun s -> s.GetProperty("method").GetString())) (Array.create 3 "restyle") "the step methods"
            let visibility (s: JsonElement) = (s.GetProperty("args").[0]).GetProperty("visible").EnumerateArray() |> Seq.map _.GetBoolean() |> Array.ofSeq
            Expect.equal (steps |> Array.map visibility) [| [| true; false; false |]; [| false; true; false |]; [| false; false; true |] |] "each step shows its own frame"
            Expect.equal (fig.GetProperty("layout").GetProperty("title").GetProperty("text").GetString()) "samples" "the figure's title"
            // A single frame needs no slider; what is not a PNG is refused.
            let single = json (Charts.imageFrames [ "best", png 9uy ])
            Expect.isFalse (single.GetProperty("layout").TryGetProperty("sliders") |> fst) "no slider for one frame"
            raises<ArgumentException> (fun () -> Charts.image [| 1uy; 2uy; 3uy |] |> ignore) |> ignore
        testCase "text that could end the script element is escaped in the page" <| fun () ->
            let title = "a </script><script>alert(1)</script> <!-- b \u2028 c \u2029"
            let html = HtmlPage.Render("page", [ Plot(Chart.Line([ 1.0 ], [ 1.0 ], Name = "n") |> Chart.withTitle title) ])
            let script = html.Substring(html.IndexOf "Plotly.newPlot")
            let script = script.Substring(0, script.IndexOf "</script>")
            Expect.isFalse (html.Contains "\u2028") "the page has no raw U+2028"
            Expect.isFalse (html.Contains "\u2029") "the page has no raw U+2029"
            Expect.isFalse (script.Contains "<!--") "the script has no comment opener"
            // What the script element holds is still the figure with the exact title (as JavaScript reads it).
            let literal = script.Substring(script.IndexOf '{', script.LastIndexOf '}' - script.IndexOf '{' + 1)
            let parsed = JsonDocument.Parse(literal).RootElement
            Expect.equal (parsed.GetProperty("layout").GetProperty("title").GetProperty("text").GetString()) title "the title as JavaScript reads it"
        testCase "saved pages load plotly.min.js from their own folder" <| fun () ->
            use temp = new TempFolder "page"
            let path = Path.Combine(temp.Path, "nested", "fig.html")
            HtmlPage.Save(path, "t", [ Plot(Chart.Line([ 1.0; 2.0 ], [ 2.0; 1.0 ])) ]) |> ignore
            let html = File.ReadAllText path
            Expect.stringContains html "<script src=\"plotly.min.js\"></script>" "the page's script element"
            Expect.isFalse (html.Contains "http://" || html.Contains "https://") "the page names no address on the network"
            let copied = Path.Combine(temp.Path, "nested", "plotly.min.js")
            Expect.equal (FileInfo(copied).Length) (FileInfo(PlotlyJs.locate ()).Length) "the copied plotly.min.js"
            Expect.isEmpty (Directory.GetFiles(Path.GetDirectoryName path, "*.tmp")) "temporary files left"
    ]

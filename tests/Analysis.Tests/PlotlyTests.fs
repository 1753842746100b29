module Research.Analysis.Tests.PlotlyTests

open System
open System.IO
open System.Text.Json
open Xunit
open Research.Core.IO
open Research.Analysis.Plotly
open Research.Analysis.Tests.TestSupport

let private json (figure: Figure) = JsonDocument.Parse(FigureJson.serialize figure).RootElement

[<Fact>]
let ``titles use plotly 3 objects and log axes set type`` () =
    let fig =
        Chart.Line([ 1.0; 10.0; 100.0 ], [ 3.0; 2.0; 1.0 ], Name = "loss")
        |> Chart.withTitle "Training"
        |> Chart.withXAxisTitle "step"
        |> Chart.withYAxisTitle "nats"
        |> Chart.withXAxisLog
        |> Chart.withSize (640, 480)
        |> json
    let layout = fig.GetProperty "layout"
    Assert.Equal("Training", layout.GetProperty("title").GetProperty("text").GetString())
    Assert.Equal("step", layout.GetProperty("xaxis").GetProperty("title").GetProperty("text").GetString())
    Assert.Equal("nats", layout.GetProperty("yaxis").GetProperty("title").GetProperty("text").GetString())
    Assert.Equal("log", layout.GetProperty("xaxis").GetProperty("type").GetString())
    Assert.False(layout.GetProperty("yaxis").TryGetProperty("type") |> fst)
    Assert.Equal(640, layout.GetProperty("width").GetInt32())
    let trace = fig.GetProperty("data")[0]
    Assert.Equal("scatter", trace.GetProperty("type").GetString())
    Assert.Equal("lines", trace.GetProperty("mode").GetString())
    Assert.Equal("loss", trace.GetProperty("name").GetString())
    Assert.Equal<float[]>([| 3.0; 2.0; 1.0 |], trace.GetProperty("y").EnumerateArray() |> Seq.map _.GetDouble() |> Array.ofSeq)

[<Fact>]
let ``non-finite numbers become null gaps`` () =
    let trace = (json (Chart.Line([ 1.0; 2.0; 3.0 ], [ 1.0; nan; infinity ]))).GetProperty("data")[0]
    let y = trace.GetProperty("y").EnumerateArray() |> Seq.map _.ValueKind |> Array.ofSeq
    Assert.Equal<JsonValueKind[]>([| JsonValueKind.Number; JsonValueKind.Null; JsonValueKind.Null |], y)

[<Fact>]
let ``grid puts each figure on its own axes with its title above`` () =
    let a = Chart.Line([ 0.0; 1.0 ], [ 0.0; 1.0 ]) |> Chart.withTitle "left" |> Chart.withYAxisTitle "y-left" |> Chart.withYAxisLog
    let b = Chart.combine [ Chart.Histogram([ 1.0; 2.0; 2.0 ], NBins = 4); Chart.Line([ 0.0 ], [ 1.0 ]) ] |> Chart.withTitle "right"
    let fig = [ a; b ] |> Chart.Grid(1, 2) |> Chart.withTitle "both" |> json
    let data = fig.GetProperty("data").EnumerateArray() |> Array.ofSeq
    Assert.False(data[0].TryGetProperty("xaxis") |> fst) // first subplot: the default axes
    Assert.Equal("x2", data[1].GetProperty("xaxis").GetString())
    Assert.Equal("y2", data[2].GetProperty("yaxis").GetString())
    Assert.Equal(4, data[1].GetProperty("nbinsx").GetInt32())
    let layout = fig.GetProperty "layout"
    Assert.Equal(2, layout.GetProperty("grid").GetProperty("columns").GetInt32())
    Assert.Equal("log", layout.GetProperty("yaxis").GetProperty("type").GetString())
    Assert.Equal("y-left", layout.GetProperty("yaxis").GetProperty("title").GetProperty("text").GetString())
    Assert.True(layout.TryGetProperty("yaxis2") |> fst)
    let titles = layout.GetProperty("annotations").EnumerateArray() |> Seq.map (fun a -> a.GetProperty("text").GetString(), a.GetProperty("xref").GetString()) |> List.ofSeq
    Assert.Equal<(string * string) list>([ "left", "x domain"; "right", "x2 domain" ], titles)
    Assert.Equal("both", layout.GetProperty("title").GetProperty("text").GetString())

[<Fact>]
let ``image traces carry the PNG as a data URI`` () =
    let png = Png.EncodeGray(2, 2, [| 0uy; 255uy; 255uy; 0uy |])
    let trace = (json (Chart.Image png)).GetProperty("data")[0]
    Assert.Equal("image", trace.GetProperty("type").GetString())
    Assert.Equal("data:image/png;base64," + Convert.ToBase64String png, trace.GetProperty("source").GetString())
    Assert.Throws<ArgumentException>(fun () -> Chart.Image [| 1uy; 2uy; 3uy |] |> ignore) |> ignore

[<Fact>]
let ``text that could end the script element is escaped in the page`` () =
    let title = "a </script><script>alert(1)</script> <!-- b \u2028 c \u2029"
    let html = HtmlPage.Render("page", [ Plot(Chart.Line([ 1.0 ], [ 1.0 ], Name = "n") |> Chart.withTitle title) ])
    let script = html.Substring(html.IndexOf "Plotly.newPlot")
    let script = script.Substring(0, script.IndexOf "</script>")
    Assert.DoesNotContain("\u2028", html)
    Assert.DoesNotContain("\u2029", html)
    Assert.DoesNotContain("<!--", script)
    // What the script element holds is still the figure with the exact title (as JavaScript reads it).
    let literal = script.Substring(script.IndexOf '{', script.LastIndexOf '}' - script.IndexOf '{' + 1)
    let parsed = JsonDocument.Parse(literal).RootElement
    Assert.Equal(title, parsed.GetProperty("layout").GetProperty("title").GetProperty("text").GetString())

[<Fact>]
let ``saved pages load plotly.min.js from their own folder`` () =
    use temp = new TempFolder "page"
    let path = Path.Combine(temp.Path, "nested", "fig.html")
    Chart.Line([ 1.0; 2.0 ], [ 2.0; 1.0 ]) |> Chart.withTitle "t" |> Chart.saveHtml path
    let html = File.ReadAllText path
    Assert.Contains("<script src=\"plotly.min.js\"></script>", html)
    let copied = Path.Combine(temp.Path, "nested", "plotly.min.js")
    Assert.Equal(FileInfo(PlotlyJs.locate ()).Length, FileInfo(copied).Length)
    Assert.Empty(Directory.GetFiles(Path.GetDirectoryName path, "*.tmp"))

/// What the report's and verify's figures share, on top of Plotly.NET: axes of whole epochs,
/// images at their pixel size, and image frames behind one slider.
module Research.Analysis.Pages.Charts

open System
open Plotly.NET
open Plotly.NET.LayoutObjects
open Research.Core.IO

/// Curves are 900 x 450 (Plotly.NET would make every figure 600 x 600).
let withCurveSize (chart: GenericChart) = chart |> Chart.withSize (900, 450)

/// An x axis titled "epoch" with ticks on whole epochs only (plotly alone labels 1.5, 2.5 on short
/// runs): about ten ticks over [0, largest].
let withEpochAxis (largest: float) (chart: GenericChart) =
    let step = max 1 (int (ceil (largest / 10.0)))
    chart |> Chart.withXAxis (LinearAxis.init (Title = Title.init "epoch", Tick0 = 0, DTick = step))

/// Width and height of a PNG, read by the workspace's own decoder; anything else is refused.
let private pngSize (png: byte[]) =
    try
        let image = Png.Decode png
        image.Width, image.Height
    with :? IO.InvalidDataException as e ->
        invalidArg "png" $"expected PNG file bytes: {e.Message}"

let private bare = LinearAxis.init (ShowTickLabels = false, ShowGrid = false, ZeroLine = false, Ticks = StyleParam.TickOptions.Empty)

/// Room for the title and margins around an image of width x height pixels, shown pixel for pixel
/// unless wider than the page (1200 pixels), then scaled down to fit.
let private figureSize (width: int) (height: int) (extraHeight: int) =
    let margins, page = 160, 1180
    let scale = min 1.0 (float (page - margins) / float width)
    max 360 (int (scale * float width) + margins), int (scale * float height) + 140 + extraHeight

/// Image traces, one per PNG (plotly decodes the data URI in the browser), only the `shown`-th
/// visible, axes hidden.
let private imageFigure (pngs: (string * byte[]) list) (shown: int) (extraHeight: int) =
    let width, height = pngs |> List.map (snd >> pngSize) |> List.reduce (fun (w, h) (w2, h2) -> max w w2, max h h2)
    let visible i = if i = shown then StyleParam.Visible.True else StyleParam.Visible.False
    pngs
    |> List.mapi (fun i (name, png) ->
        Chart.Image(Source = "data:image/png;base64," + Convert.ToBase64String png, Name = name)
        |> Chart.withTraceInfo (Visible = visible i))
    |> Chart.combine
    |> Chart.withXAxis bare
    |> Chart.withYAxis bare
    |> fun chart ->
        let figureWidth, figureHeight = figureSize width height extraHeight
        chart |> Chart.withSize (figureWidth, figureHeight)

/// One image at its pixel size.
let image (png: byte[]) = imageFigure [ "", png ] 0 0

/// Frames of one image (the samples at every saved epoch) as one figure with a slider over them;
/// the last frame shows first. A single frame needs no slider.
let imageFrames (frames: (string * byte[]) list) =
    match frames with
    | [] -> invalidArg "frames" "no frames"
    | [ _, png ] -> image png
    | _ ->
        let last = frames.Length - 1
        let steps =
            frames
            |> List.mapi (fun i (label, _) ->
                SliderStep.init (Args = [ "visible", box [| for j in 0..last -> j = i |] ], Method = StyleParam.Method.Restyle, Label = label))
        imageFigure frames last 80
        |> Chart.withSlider (Slider.init (Steps = steps, Active = last, CurrentValue = SliderCurrentValue.init (Visible = true)))

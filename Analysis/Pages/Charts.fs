/// What the report's and verify's figures share, on top of Plotly.NET: axes of whole epochs,
/// images at their pixel size, and image frames behind one slider.
module Research.Analysis.Pages.Charts

open System
open Plotly.NET
open Plotly.NET.LayoutObjects
open Research.Core.IO

/// Curves and bars are 450 pixels high and as wide as the page (plotly.js resizes them with the
/// window); Plotly.NET alone would make every figure 600 x 600.
let withCurveSize (chart: GenericChart) =
    let chart = chart |> Chart.withSize (Height = 450) |> Chart.withLayout (Layout.init (AutoSize = true))
    // Plotly.NET gives every layout its default width; without one plotly.js fits the container.
    (GenericChart.getLayout chart).RemoveProperty "width" |> ignore
    chart

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

/// The margins around an image figure: room for its title above and the slider below.
let private side, top, bottom = 40, 60, 20

/// The size of an image figure for an image of width x height pixels: a small image is enlarged by
/// a whole factor (up to 4, as long as it stays within the page's width and 720 pixels of height),
/// so that strips of 28 x 28 digits can be read with their pixels square; one wider than the page is
/// scaled down to fit.
let private figureSize (width: int) (height: int) (extraHeight: int) =
    let room, tallest = float (1380 - 2 * side), 720
    let scale =
        if float width > room then room / float width
        else float (max 1 (min 4 (min (int (room / float width)) (tallest / height))))
    max 360 (int (scale * float width) + 2 * side), int (scale * float height) + top + bottom + extraHeight

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
        chart
        |> Chart.withSize (figureWidth, figureHeight)
        |> Chart.withMargin (Margin.init (Left = side, Right = side, Top = top, Bottom = bottom + extraHeight))

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

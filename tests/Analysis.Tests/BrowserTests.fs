/// The generated pages in a real browser: Debian's Chromium driven by Playwright (never a
/// downloaded browser). Pages must render every figure and log no console errors.
module Research.Analysis.Tests.BrowserTests

open System
open System.Collections.Concurrent
open System.IO
open System.Threading.Tasks
open Microsoft.Playwright
open Expecto
open Research.Tests.Checks
open Research.Core.IO
open Research.Core.Training
open Plotly.NET
open Research.Analysis.Pages
open Research.Analysis.Report
open Research.Analysis.Verify
open Research.Analysis.Tests.TestSupport

let private chromium = "/usr/bin/chromium"

/// One browser for every test, launched on first use and closed after the run.
type BrowserFixture() =
    do
        if not (File.Exists chromium) then
            failwith $"Chromium not found at {chromium}: install the Debian 'chromium' package (scripts/setup.sh does)"
    let playwright = Playwright.CreateAsync().GetAwaiter().GetResult()
    let options =
        BrowserTypeLaunchOptions(
            ExecutablePath = chromium,
            Headless = true,
            Args =
                [ "--no-sandbox"; "--disable-gpu"; "--disable-background-networking"; "--disable-component-update"
                  "--disable-sync"; "--no-first-run"; "--disable-quic" ]
        )
    let browser = playwright.Chromium.LaunchAsync(options).GetAwaiter().GetResult()
    member _.Browser = browser

    interface IDisposable with
        member _.Dispose() =
            browser.CloseAsync().GetAwaiter().GetResult()
            playwright.Dispose()

let private fixture = shared (fun () -> new BrowserFixture())

/// A page that records console errors and uncaught exceptions, and blocks (and records) every
/// request that is not for a file: a report must open offline.
let private openPage (browser: IBrowser) =
    task {
        let! page = browser.NewPageAsync(BrowserNewPageOptions(ViewportSize = ViewportSize(Width = 1280, Height = 900)))
        let errors = ConcurrentQueue<string>()
        page.Console.Add(fun msg -> if msg.Type = "error" then errors.Enqueue $"console: {msg.Text}")
        page.PageError.Add(fun error -> errors.Enqueue $"page error: {error}")
        let onlyFiles (route: IRoute) : Task =
            let url = route.Request.Url
            if url.StartsWith "file:" || url.StartsWith "data:" then route.ContinueAsync()
            else
                errors.Enqueue $"request that is not a file, blocked: {url}"
                route.AbortAsync()
        let! _ = page.RouteAsync("**/*", Func<IRoute, Task> onlyFiles)
        return page, errors
    }

/// Loads a page from disk and waits until plotly has drawn `expectedPlots` figures.
let private loadPlots (browser: IBrowser) (path: string) (expectedPlots: int) =
    task {
        let! page, errors = openPage browser
        let! _ = page.GotoAsync(Uri(path).AbsoluteUri)
        let! _ =
            page.WaitForFunctionAsync(
                "n => document.querySelectorAll('.js-plotly-plot').length >= n",
                expectedPlots,
                PageWaitForFunctionOptions(Timeout = 30000.0f)
            )
        // Image traces decode their PNG asynchronously; give the event loop a moment to finish.
        let! _ = page.EvaluateAsync("() => new Promise(r => setTimeout(r, 300))")
        return page, errors
    }

let private assertNoErrors (errors: ConcurrentQueue<string>) =
    Expect.isTrue errors.IsEmpty ("browser errors:\n" + String.Join("\n", errors))

let private countOf (page: IPage) (selector: string) =
    page.EvaluateAsync<int>("s => document.querySelectorAll(s).length", selector)

/// Plot containers, and how many of them have plotly's rendered SVG inside.
let private assertPlotsRendered (page: IPage) (expected: int) =
    task {
        let! containers = countOf page "div.plot"
        let! plotly = countOf page ".js-plotly-plot"
        let! rendered = page.EvaluateAsync<int>("() => [...document.querySelectorAll('.js-plotly-plot')].filter(p => p.querySelector('.main-svg')).length")
        Expect.equal containers expected "containers"
        Expect.equal plotly expected "plotly"
        Expect.equal rendered expected "rendered"
    }

let private randomImages (rng: Random) (count: int) = Array.init (count * 28 * 28) (fun _ -> float32 (rng.NextDouble()))

let private gridPng rng count rows cols = Png.Grid(randomImages rng count, 28, 28, rows, cols)

let private metrics (offset: float) =
    let rows =
        Array.init 5 (fun i ->
            let e = float (i + 1)
            [| e; -200.0 / e - offset; 20.0 + e; 180.0 / e; -205.0 / e - offset; 3.0 * e |])
    { Columns = [| "epoch"; "train_elbo"; "kl"; "recon"; "val_elbo"; "seconds" |]
      Rows = rows }

let private points (rng: Random) (n: int) (dim: int) =
    Array.init n (fun _ -> Array.init dim (fun _ -> rng.NextDouble() * 4.0 - 2.0))

/// Two runs: one with every kind of panel and a 2-d latent, one with 20-d latents (PCA) and less.
let private syntheticRuns () =
    let rng = Random 5
    let fullMetrics = metrics 0.0
    let full =
        { Name = "vae-z2"
          Config = [| "latent", "2"; "epochs", "5"; "note", "</script><b>not bold</b>" |]
          Metrics = fullMetrics
          Headline = Some { Column = "val_elbo"; Better = Higher }
          Panels =
            (match RunReportData.curves fullMetrics [] with
             | Curves(title, y, series, _) :: rest -> Curves(title, y, series, [ "a reference", -100.0 ]) :: rest
             | other -> other)
            @ [ Images("samples", "left: means, right: draws", [ for epoch in [ 1; 5 ] -> $"epoch {epoch}", gridPng rng 128 8 16 ])
                Images("recon", "", [ "epoch 5", gridPng rng 16 2 8 ])
                Images("2-d latent manifold", "", [ "best", gridPng rng 100 10 10 ])
                Points("Latent codes by digit", points rng 1000 2, Array.init 1000 (fun i -> i % 10))
                Images("Latent interpolations", "", [ "best", gridPng rng 30 3 10 ])
                Panel.Table("Scores", [ "metric"; "value" ], [ [ "</script><b>not bold</b>"; "1.0" ] ])
                Bars("Predicted classes", "class", [ for d in 0..9 -> string d ], [ "samples", Array.init 10 float; "floor", Array.create 10 5.0 ]) ] }
    let partialMetrics = metrics 5.0
    let partial =
        { full with
            Name = "vae-z20"
            Config = [| "latent", "20"; "epochs", "5" |]
            Metrics = partialMetrics
            Panels =
                RunReportData.curves partialMetrics []
                @ [ Images("samples", "left: means, right: draws", [ "epoch 5", gridPng rng 128 8 16 ])
                    Images("recon", "", [ "epoch 5", gridPng rng 16 2 8 ])
                    Points("Latent codes by digit", points rng 300 20, Array.init 300 (fun i -> i % 10)) ] }
    [ full; partial ]

/// The PNG bytes of the frame each image panel shows first (its last).
let private lastFrames (runs: RunReportData list) =
    runs |> List.collect (fun r -> r.Panels |> List.choose (function Images(_, _, frames) -> Some(snd (List.last frames)) | _ -> None))

let private dataUri (png: byte[]) = "data:image/png;base64," + Convert.ToBase64String png

/// The data URIs of the images plotly has drawn.
let private drawnImages (page: IPage) =
    page.EvaluateAsync<string[]>("() => [...document.querySelectorAll('.js-plotly-plot .imagelayer image')].map(i => i.getAttribute('href') || '')")

/// Moves the slider of the first figure titled `title` to step `index` by clicking the rail above
/// the step's label, as a reader would, and waits for plotly to redraw.
let private showFrame (page: IPage) (title: string) (index: int) =
    task {
        let! box =
            page.EvaluateAsync<float[]>(
                "([title, index]) => { const plot = [...document.querySelectorAll('.js-plotly-plot')].find(p => p.querySelector('.gtitle')?.textContent === title); plot.scrollIntoView(); const r = plot.querySelectorAll('.slider-labels .slider-label')[index].getBoundingClientRect(); const rail = plot.querySelector('.slider-group .slider-rail-touch-rect').getBoundingClientRect(); return [r.x + r.width / 2, rail.y + rail.height / 2]; }",
                [| box title; box index |]
            )
        do! page.Mouse.ClickAsync(float32 box[0], float32 box[1])
        let! _ = page.EvaluateAsync("() => new Promise(r => setTimeout(r, 300))")
        return ()
    }


/// The titles of a short run's panels, after checking that the report opens with the note that
/// the run trained fewer epochs than the family's recipe in the README.
let private titlesAfterNote (epochs: int) (recipe: string) (panels: Panel list) =
    match panels with
    | Note text :: rest ->
        Expect.stringStarts text $"This run trained {epochs} epoch(s); {recipe} in the README trains" "the short-run note"
        rest |> List.map Panel.title
    | _ -> failtest $"the report of a {epochs}-epoch run does not open with the short-run note"

/// Trains a short run of any family through the core, leaving libtorch's thread count as it was,
/// and reads it back as `research report` does.
let private trainAndRead family config settings (run: string) =
    let threads = Research.Core.torch.get_num_threads ()
    try Research.Core.Training.Loop.train family config settings run false None ignore |> ignore
    finally Research.Core.torch.set_num_threads threads
    RunReportData.read run (Research.Core.Reports.Score.runReport run null)

/// Writes a run's report as `research report` does and loads it: `plots` figures drawn, `images` of
/// them images, and the image panels' headings; returns the page for more checks.
let private loadRunReport (run: string) (data: RunReportData) (plots: int) (images: int) (headings: string[]) =
    task {
        let path = Report.Write(run, [ data ], [])
        let! page, errors = loadPlots fixture.Value.Browser path plots
        do! assertPlotsRendered page plots
        let! drawn = countOf page ".js-plotly-plot .imagelayer image"
        Expect.equal drawn images "drawn images"
        let! shown = page.EvaluateAsync<string[]>("() => [...document.querySelectorAll('h3')].map(h => h.textContent)")
        Expect.equal shown headings "the image panels' headings"
        return page, errors
    }

[<Tests>]
let tests =
    testList "BrowserTests" [
        testList "BrowserTests" [
            testCase "report renders every figure, image and legend without console errors" <| fun () ->
                wait <| task {
                    let runs = syntheticRuns ()
                    let verify = verifyResult.Force()
                    use folder = new TempFolder "report"
                    let comparisonBars = [ Bars("Predicted classes, all runs", "class", [ for d in 0..9 -> string d ], [ "both", Array.create 10 1.0 ]) ]
                    let path = Report.Write(folder.Path, runs, verify.Rows, comparisonBars)
                    // comparison 1 + its class histogram; full run: 3 curves (elbo, kl, recon) + samples (two
                    // epochs behind a slider) + reconstructions + manifold + latents + interpolations + class
                    // histogram = 9; partial run: 3 curves + samples + reconstructions + latents = 6
                    let expected = 17
                    let sections = Report.Sections(runs, verify.Rows, comparisonBars)
                    Expect.equal (sections |> List.filter (function Plot _ -> true | _ -> false) |> List.length) expected "sections |> List.filter (function Plot _ -> true | _ -> false) |> List.length"
                    let! page, errors = loadPlots fixture.Value.Browser path expected
                    do! assertPlotsRendered page expected
                    // Drawn images: the last frame of each image panel (samples and reconstructions of both
                    // runs, the manifold and the interpolations).
                    let! images = drawnImages page
                    let shown = lastFrames runs |> List.map dataUri
                    Expect.equal shown.Length 6 "image panels"
                    Expect.equal (images |> List.ofArray |> List.sort) (List.sort shown) "the drawn images"
                    // The samples' slider goes back to epoch 1: that frame is drawn instead of epoch 5's.
                    let frames = runs.Head.Panels |> List.pick (function Images("samples", _, frames) -> Some frames | _ -> None)
                    let framesDrawn (images: string[]) =
                        images |> Array.choose (fun uri -> frames |> List.tryFindIndex (fun (_, png) -> dataUri png = uri))
                    let! before = drawnImages page
                    Expect.equal (framesDrawn before) [| 1 |] "the samples' frames drawn first (epoch 5)"
                    do! showFrame page "samples" 0
                    let! after = drawnImages page
                    Expect.equal (framesDrawn after) [| 0 |] "the samples' frames drawn after moving the slider (epoch 1)"
                    // The latent scatters have one legend entry per digit.
                    let! legends = page.EvaluateAsync<int[]>("() => [...document.querySelectorAll('.js-plotly-plot')].filter(p => p.querySelector('.gtitle')?.textContent.startsWith('Latent codes')).map(p => p.querySelectorAll('.legend .traces').length)")
                    Expect.equal legends [| 10; 10 |] "legends"
                    // Bars: two series of ten classes in the run, one in the comparison.
                    let! bars = countOf page ".js-plotly-plot .barlayer .point"
                    Expect.equal bars 30 "bars"
                    // Curves and bars fill the page's width; the class histogram labels all ten classes.
                    let! fill = page.EvaluateAsync<float[]>("() => [...document.querySelectorAll('div.plot')].filter(p => p.querySelector('.xtitle')?.textContent === 'epoch' || p.querySelector('.barlayer')).map(p => p.querySelector('.main-svg').getBoundingClientRect().width / p.clientWidth)")
                    Expect.isNonEmpty fill "curves and bars"
                    for f in fill do within 0.98 1.02 f "a curve's or bar chart's width over the page's"
                    let! contentWidth = page.EvaluateAsync<float>("() => document.querySelector('div.plot').clientWidth")
                    Expect.isGreaterThan contentWidth 1150.0 "the page's width for figures in a 1280-pixel window"
                    let! classes = page.EvaluateAsync<string[]>("() => { const p = [...document.querySelectorAll('.js-plotly-plot')].find(p => p.querySelector('.gtitle')?.textContent === 'Predicted classes'); return [...p.querySelectorAll('.xtick text')].map(t => t.textContent); }")
                    Expect.equal classes [| for d in 0..9 -> string d |] "every class labelled"
                    // Small image strips are enlarged by a whole factor: the reconstructions (2 rows of 8), 4 times.
                    let recon = runs.Head.Panels |> List.pick (function Images("recon", _, frames) -> Some(snd (List.last frames)) | _ -> None)
                    let! shownWidth = page.EvaluateAsync<float>("uri => [...document.querySelectorAll('.js-plotly-plot .imagelayer image')].find(i => i.getAttribute('href') === uri).getBoundingClientRect().width", dataUri recon)
                    let pixels = float (Png.Decode recon).Width
                    output.WriteLine $"the reconstruction strip: {pixels} pixels wide, shown {shownWidth:F0} wide"
                    within (4.0 * pixels - 1.0) (4.0 * pixels + 1.0) shownWidth "the reconstructions enlarged four times"
                    // Curves have ticks on whole epochs only.
                    let! ticks = page.EvaluateAsync<string[]>("() => [...document.querySelectorAll('.js-plotly-plot')].filter(p => p.querySelector('.xtitle')?.textContent === 'epoch').flatMap(p => [...p.querySelectorAll('.xtick text')].map(t => t.textContent))")
                    Expect.isNonEmpty ticks "ticks"
                    for t in ticks do
                        Expect.isMatch t "^[0-9]+$" "an epoch tick label is an integer"
                    // Tables are escaped text, and the verify table has a row per check.
                    let! bold = countOf page "td b"
                    Expect.equal bold 0 "bold"
                    let! verifyRows = countOf page "table.verify tbody tr"
                    Expect.equal verifyRows verify.Rows.Length "verifyRows"
                    assertNoErrors errors
                }
            testCase "verify page renders its figures and table without console errors" <| fun () ->
                wait <| task {
                    let verify = verifyResult.Force()
                    use folder = new TempFolder "verify"
                    let path = VerifyPage.Write(folder.Path, verify)
                    let! page, errors = loadPlots fixture.Value.Browser path verify.Figures.Length
                    do! assertPlotsRendered page verify.Figures.Length
                    let! rows = countOf page "table.verify tbody tr"
                    Expect.equal rows verify.Rows.Length "rows"
                    let! failed = countOf page "tr.fail"
                    Expect.equal failed 0 "failed"
                    assertNoErrors errors
                }
            testCase "every trace type renders" <| fun () ->
                wait <| task {
                    let rng = Random 3
                    let xs = Array.init 50 float
                    let figures =
                        [ Chart.Line(xs, xs |> Array.map sqrt, Name = "sqrt", LineColor = Color.fromHex "#d62728")
                          |> Chart.withYAxisStyle(AxisType = StyleParam.AxisType.Log)
                          Chart.Point(xs, xs |> Array.map sin, MarkerColor = Color.fromColorScaleValues xs, MultiText = (xs |> Array.map (sprintf "point %g")))
                          Chart.Heatmap(zData = Array.init 10 (fun i -> Array.init 12 (fun j -> float (i * j))), ColorScale = StyleParam.Colorscale.Viridis)
                          Chart.Histogram(X = Array.init 1000 (fun _ -> rng.NextDouble()), NBinsX = 20)
                          Charts.image (gridPng rng 4 2 2)
                          // A gap: plotly.js skips the values that are not numbers.
                          Chart.Line(xs, xs |> Array.map (fun x -> if x = 10.0 then nan elif x = 20.0 then infinity else x)) ]
                    use folder = new TempFolder "traces"
                    let path = Path.Combine(folder.Path, "traces.html")
                    HtmlPage.Save(path, "traces", [ for f in figures -> Plot f ]) |> ignore
                    let! page, errors = loadPlots fixture.Value.Browser path figures.Length
                    do! assertPlotsRendered page figures.Length
                    for selector, count in [ ".scatterlayer .trace", 3; ".heatmaplayer image", 1; ".barlayer .point", 20; ".imagelayer image", 1 ] do
                        let! found = countOf page $".js-plotly-plot {selector}"
                        Expect.isTrue (found >= count) $"{selector}: {found} elements, expected at least {count}"
                    assertNoErrors errors
                }
            testCase "a title that tries to close the script element renders as text" <| fun () ->
                wait <| task {
                    let title = "</script><script>window.injected = 1</script> \u2028 <!-- end"
                    use folder = new TempFolder "escape"
                    let path = Path.Combine(folder.Path, "page.html")
                    HtmlPage.Save(path, "escape", [ Plot(Chart.Line([ 1.0; 2.0 ], [ 1.0; 4.0 ]) |> Chart.withTitle title) ]) |> ignore
                    let! page, errors = loadPlots fixture.Value.Browser path 1
                    do! assertPlotsRendered page 1
                    let! injected = page.EvaluateAsync<bool>("() => window.injected === 1")
                    Expect.isFalse injected "injected"
                    let! shown = page.EvaluateAsync<string>("() => document.querySelector('.gtitle').textContent")
                    // Plotly renders the line separator as a space-like character; the visible text must match.
                    Expect.stringStarts shown "</script><script>window.injected = 1</script>" "shown"
                    Expect.stringEnds shown "<!-- end" "shown"
                    assertNoErrors errors
                }
            testCase "Chromium decodes our grid PNG to the same gray levels" <| fun () ->
                wait <| task {
                    let rng = Random 9
                    let png = Png.Grid(randomImages rng 6, 28, 28, 2, 3, padding = 2, padValue = 0.5f)
                    let ours = Png.Decode png
                    let! page, errors = openPage fixture.Value.Browser
                    let script =
                        """src => new Promise((resolve, reject) => {
                     const img = new Image();
                     img.onload = () => {
                       const c = document.createElement('canvas');
                       c.width = img.width; c.height = img.height;
                       const ctx = c.getContext('2d');
                       ctx.drawImage(img, 0, 0);
                       const d = ctx.getImageData(0, 0, img.width, img.height).data;
                       const gray = [];
                       for (let i = 0; i < d.length; i += 4) {
                         if (d[i] !== d[i + 1] || d[i] !== d[i + 2] || d[i + 3] !== 255) { reject('pixel ' + i / 4 + ' is not opaque gray'); return; }
                         gray.push(d[i]);
                       }
                       resolve([img.width, img.height, ...gray]);
                     };
                     img.onerror = () => reject('Chromium could not decode the PNG');
                     img.src = src;
                   })"""
                    let! decoded = page.EvaluateAsync<int[]>(script, "data:image/png;base64," + Convert.ToBase64String png)
                    Expect.equal (decoded[0], decoded[1]) (ours.Width, ours.Height) "(decoded[0], decoded[1])"
                    Expect.equal (decoded[2..]) (ours.Pixels |> Array.map int) "decoded[2..]"
                    assertNoErrors errors
                }
            testCase "our decoder reads Chromium's screenshot PNGs" <| fun () ->
                wait <| task {
                    let! page, errors = openPage fixture.Value.Browser
                    let colors = [ 12, 34, 56; 200, 100, 0; 255, 255, 255; 0, 0, 0 ]
                    let stripes = colors |> List.map (fun (r, g, b) -> $"<div style=\"height:10px;background:rgb({r},{g},{b})\"></div>") |> String.concat ""
                    do! page.SetContentAsync($"<html><body style=\"margin:0\">{stripes}</body></html>")
                    let! shot = page.ScreenshotAsync(PageScreenshotOptions(Type = ScreenshotType.Png, Clip = Clip(X = 0.0f, Y = 0.0f, Width = 50.0f, Height = 40.0f)))
                    let image = Png.Decode shot
                    Expect.equal (image.Width, image.Height) (50, 40) "(image.Width, image.Height)"
                    colors
                    |> List.iteri (fun stripe (r, g, b) ->
                        for row in stripe * 10 .. stripe * 10 + 9 do
                            for col in 0 .. 49 do
                                let at = (row * image.Width + col) * image.Channels
                                Expect.equal (int image.Pixels[at], int image.Pixels[at + 1], int image.Pixels[at + 2]) (r, g, b) "(int image.Pixels[at], int image.Pixels[at + 1], int image.Pixels[at + 2])")
                    assertNoErrors errors
                }
        ]
        // A real run: a latent-2 VAE trained here for one short epoch, reported through the same path as
        // `research report` (the run folder read generically, plus the VAE's panels from its best checkpoint).
        testSequenced <| testList "RealRunReportTests" [
            testCase "the report of a real latent-2 run shows curves, samples, reconstructions, manifold, latents and interpolations" <| fun () ->
                wait <| task {
                    use folder = new TempFolder "real-run"
                    let run = Path.Combine(folder.Path, "run")
                    let config = { Research.Core.Models.Vae.VaeConfig.defaults with Latent = 2 }
                    let settings =
                        { Research.Core.Training.RunSettings.defaults with
                            Epochs = 1; TrainLimit = 1000; ValidationSize = 500; Threads = 1; ImageEpochs = [ 0; 1 ] }
                    Research.Core.Training.Loop.train Research.Core.Models.Vae.VaeRun.family config settings run false None ignore |> ignore
                    let data = RunReportData.read run (Research.Core.Reports.Score.runReport run null)
                    let titles = data.Panels |> titlesAfterNote 1 "the latent-20 VAE recipe"
                    Expect.equal titles [ "elbo"; "kl"; "recon"; "recon"; "samples"; "2-d latent manifold"; "Latent means of test images, by digit"; "Latent interpolations" ] "titles"
                    let frames = data.Panels |> List.choose (function Images("samples", _, frames) -> Some(List.map fst frames) | _ -> None)
                    Expect.equal frames [ [ "epoch 0"; "epoch 1" ] ] "frames"
                    let latents, labels = data.Panels |> List.pick (function Points(_, p, l) -> Some(p, l) | _ -> None)
                    Expect.equal labels.Length 5000 "labels.Length"
                    Expect.isTrue (latents |> Array.forall (fun p -> p.Length = 2 && Array.forall Double.IsFinite p)) "latents |> Array.forall (fun p -> p.Length = 2 && Array.forall Double.IsFinite p)"
                    // 3 curves, reconstructions and samples (epochs 0 and 1 behind a slider each), manifold,
                    // latents, interpolations; four of them images, each under its panel's heading
                    let! _, errors = loadRunReport run data 8 4 [| "recon"; "samples"; "2-d latent manifold"; "Latent interpolations" |]
                    assertNoErrors errors
                }
        ]
        // A real GAN run (latent 2, one short epoch), reported as `research report` does: the loss curves
        // with the optimum lines, D(x) and D(G(z)) against 1/2, the samples, the interpolations and the
        // 2-d latent grid, all drawn in Chromium.
        testSequenced <| testList "GanRunReportTests" [
            testCase "the report of a real GAN run shows its curves with optimum lines, samples and interpolations" <| fun () ->
                wait <| task {
                    use folder = new TempFolder "gan-run"
                    let run = Path.Combine(folder.Path, "gan")
                    let config = { Research.Core.Models.Gan.GanConfig.mlp with Latent = 2; GeneratorHidden = [ 32; 64 ]; DiscriminatorHidden = [ 64; 32 ] }
                    let settings =
                        { Research.Core.Models.Gan.GanConfig.runDefaults with
                            Epochs = 1; TrainLimit = 500; ValidationSize = 200; Threads = 1; BatchSize = 50; ImageEpochs = [ 0; 1 ] }
                    let data = trainAndRead Research.Core.Models.Gan.GanRun.family config settings run
                    let titles = data.Panels |> titlesAfterNote 1 "the DCGAN recipe"
                    Expect.equal titles [ "d_loss"; "d_loss_real"; "d_loss_fake"; "g_loss"; "d_real"; "d_fake"; "samples"; "Latent interpolations"; "2-d latent grid" ] "titles"
                    let references =
                        data.Panels |> List.collect (function Curves(t, _, _, refs) -> refs |> List.map (fun (label, v) -> t, label, v) | _ -> [])
                    Expect.contains references ("d_loss", "log 4: D's loss at the optimum", log 4.0) "references"
                    Expect.contains references ("g_loss", "log 2: G's loss at the optimum", log 2.0) "references"
                    Expect.contains references ("d_real", "1/2: D at the equilibrium", 0.5) "references"
                    Expect.contains references ("d_fake", "1/2: D at the equilibrium", 0.5) "references"
                    // 6 curves, samples (epochs 0 and 1 behind a slider), interpolations, latent grid
                    let! page, errors = loadRunReport run data 9 3 [| "samples"; "Latent interpolations"; "2-d latent grid" |]
                    let! names = page.EvaluateAsync<string[]>("() => [...document.querySelectorAll('.js-plotly-plot .legendtext')].map(t => t.textContent)")
                    Expect.contains names "log 4: D's loss at the optimum" "the legend entries"
                    assertNoErrors errors
                }
        ]
        // A real flow run (two short epochs), reported as `research report` does: the bits-per-dimension
        // curves, the samples at two temperatures, the reconstruction check and the interpolations.
        testSequenced <| testList "FlowRunReportTests" [
            testCase "the report of a real flow run shows its bpd curves, samples, reconstruction check and interpolations" <| fun () ->
                wait <| task {
                    use folder = new TempFolder "flow-run"
                    let run = Path.Combine(folder.Path, "flow")
                    let config = { Research.Core.Models.Flow.FlowConfig.multiScale with Hidden = [ 8; 8; 8 ]; Couplings = [ 2; 2; 2 ]; Warmup = 2 }
                    let settings =
                        { Research.Core.Models.Flow.FlowConfig.runDefaults with
                            Epochs = 2; TrainLimit = 256; ValidationSize = 100; Threads = 1; BatchSize = 64; ImageEpochs = [ 0; 2 ] }
                    let data = trainAndRead Research.Core.Models.Flow.FlowRun.family config settings run
                    let titles = data.Panels |> titlesAfterNote 2 "the flow recipe"
                    Expect.equal titles [ "bpd"; "samples"; "samples-t0.7"; "Reconstruction check"; "Latent interpolations" ] "titles"
                    // The multi-scale flow keeps its split-off latents, so the reconstruction is exact.
                    let caption = data.Panels |> List.pick (function Images("Reconstruction check", caption, _) -> Some caption | _ -> None)
                    Expect.stringContains caption "largest pixel difference 0 of 255" "caption"
                    // 1 curve, samples and samples at 0.7 (epochs 0 and 2 behind a slider each),
                    // reconstruction, interpolations; the image panels show their title and caption
                    let! page, errors = loadRunReport run data 5 4 [| "samples"; "samples-t0.7"; "Reconstruction check"; "Latent interpolations" |]
                    let! paragraphs = page.EvaluateAsync<string[]>("() => [...document.querySelectorAll('p')].map(p => p.textContent)")
                    Expect.contains paragraphs caption "paragraphs"
                    assertNoErrors errors
                }
        ]
    ]

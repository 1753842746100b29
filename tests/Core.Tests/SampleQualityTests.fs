/// The sample-quality metrics against independent references: FID against the closed form for
/// Gaussians with commuting covariances and against numpy (another route to tr (C1 C2)^(1/2)); KID's
/// unbiased MMD^2 against numpy; precision/recall and the classifier score on cases worked by hand;
/// the versioned feature network's digest and test accuracy.
module Research.Core.Tests.SampleQualityTests

open System
open MathNet.Numerics.LinearAlgebra
open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Data
open Research.Core.Metrics
open Research.Core.Tests.TensorTestSupport
open Research.Core.Tests.NnTestSupport

/// Rows of a float64 tensor as a Python list of lists.
let private pyRows (t: Tensor) =
    let d = int (t.size 1)
    let values = t.toFloat64Array ()
    "[" + String.Join(", ", [ for r in 0 .. values.Length / d - 1 -> pyList values[r * d .. r * d + d - 1] ]) + "]"

[<Tests>]
let tests =
    testList "SampleQualityTests" [
        testList "SampleQualityMetrics" [
            testCase "FID of Gaussians with commuting covariances equals the closed form" <| fun () ->
                // C1 = Q diag(a) Q^T and C2 = Q diag(b) Q^T commute, so tr (C1 C2)^(1/2) = sum sqrt(a b) and
                // FID = |mu1 - mu2|^2 + sum (sqrt a - sqrt b)^2; Q is a random rotation, so neither is diagonal.
                let rng = Random 4
                let d = 6
                let q = Matrix<float>.Build.Dense(d, d, fun _ _ -> rng.NextDouble() - 0.5).QR().Q
                let a = Array.init d (fun _ -> 0.1 + 3.0 * rng.NextDouble())
                let b = Array.init d (fun _ -> 0.1 + 3.0 * rng.NextDouble())
                let cov (e: float[]) = q * Matrix<float>.Build.DiagonalOfDiagonalArray e * q.Transpose()
                let mu1 = Vector<float>.Build.Dense(d, fun _ -> rng.NextDouble())
                let mu2 = Vector<float>.Build.Dense(d, fun _ -> rng.NextDouble())
                let expected = (mu1 - mu2).DotProduct(mu1 - mu2) + Array.sum (Array.map2 (fun x y -> (sqrt x - sqrt y) ** 2.0) a b)
                let fid = SampleQuality.frechetDistance (mu1, cov a) (mu2, cov b)
                output.WriteLine $"FID {fid:R}, closed form {expected:R}"
                Expect.isTrue (abs (fid - expected) < 1e-10 * max 1.0 expected) $"FID {fid}, closed form {expected}"
            testCase "FID and the unbiased MMD behind KID equal numpy's on the same features, and FID of a set with itself is 0" <| fun () ->
                use scope = new TensorScope()
                use g = new Generator(7L)
                let x = torch.randn ([| 300L; 8L |], dtype = Float64, generator = g)
                let mix = torch.randn ([| 8L; 8L |], dtype = Float64, generator = g) * 0.5
                let y = (torch.randn ([| 300L; 8L |], dtype = Float64, generator = g)).mm(mix) + 0.3
                let fid = SampleQuality.fid x y
                let mmd = SampleQuality.mmdUnbiased x y
                withPyTorch (fun () ->
                    // numpy by another route: the eigenvalues of C1 C2 (not symmetric) rather than of S C2 S,
                    // and the kernel sums written out.
                    let reference =
                        runPython (
                            "import numpy as np\n"
                            + $"x = np.array({pyRows x}); y = np.array({pyRows y})\n"
                            + "m1, m2 = x.mean(0), y.mean(0); c1, c2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)\n"
                            + "root = np.sqrt(np.linalg.eigvals(c1 @ c2).astype(complex)).real.sum()\n"
                            + "fid = ((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * root\n"
                            + "d = x.shape[1]; k = lambda a, b: (a @ b.T / d + 1) ** 3\n"
                            + "kxx, kyy, kxy = k(x, x), k(y, y), k(x, y); m, n = len(x), len(y)\n"
                            + "mmd = (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * kxy.mean()\n"
                            + "print(json.dumps({'fid': fid, 'mmd': mmd}))\n")
                    let expectedFid, expectedMmd = reference.GetProperty("fid").GetDouble(), reference.GetProperty("mmd").GetDouble()
                    output.WriteLine $"FID {fid:R} (numpy {expectedFid:R}); MMD^2 {mmd:R} (numpy {expectedMmd:R})"
                    assertClose "FID" 1e-9 1e-12 [| expectedFid |] [| fid |]
                    assertClose "unbiased MMD^2" 1e-9 1e-12 [| expectedMmd |] [| mmd |])
                // KID over one subset as large as both sets is that MMD^2 (the order of rows does not matter).
                use kidGenerator = new Generator(1L)
                let kid, stdErr = SampleQuality.kid x y 1 300 kidGenerator
                assertClose "KID over one full subset" 1e-9 1e-12 [| mmd |] [| kid |]
                Expect.equal stdErr 0.0 "stdErr"
                let self = SampleQuality.fid x x
                output.WriteLine $"FID of a set with itself: {self:G3}"
                Expect.isTrue (abs self < 1e-9) $"FID of a set with itself is {self}"
            testCase "precision and recall of point clouds with answers worked by hand" <| fun () ->
                use scope = new TensorScope()
                // Real points at 0, 1, ..., 99 on a line. With k = 3 an inner point's ball has radius 2 (its
                // neighbours are at 1, 1, 2), an end point's 3 (at 1, 2, 3).
                let line (values: float[]) = torch.tensor(values, [| int64 values.Length; 1L |]).``to`` Float64 * torch.ones ([| 1L; 2L |], dtype = Float64)
                let real = line [| for i in 0..99 -> float i |]
                // The first half: every fake lies on a real point (precision 1); the fake balls (radius 2
                // inside, 3 at the ends 0 and 49, in units of the line) reach the real points 0..52
                // (52 is 3 from 49), so recall is 53/100.
                let half = line [| for i in 0..49 -> float i |]
                let precision, recall = SampleQuality.precisionRecall real half 3
                output.WriteLine $"half of the line: precision {precision}, recall {recall}"
                Expect.equal precision 1.0 "precision"
                Expect.floatClose (digits 12) recall 0.53 "recall"
                // Far away: nothing of either set is in the other's manifold.
                let far = line [| for i in 0..49 -> 1000.0 + float i |]
                Expect.equal (SampleQuality.precisionRecall real far 3) (0.0, 0.0) "SampleQuality.precisionRecall real far 3"
                // Identical sets: both 1.
                Expect.equal (SampleQuality.precisionRecall real real 3) (1.0, 1.0) "SampleQuality.precisionRecall real real 3"
            testCase "density and coverage of point clouds with answers worked by hand, and their robustness to one outlier" <| fun () ->
                use scope = new TensorScope()
                let line (values: float[]) = torch.tensor(values, [| int64 values.Length; 1L |]).``to`` Float64 * torch.ones ([| 1L; 2L |], dtype = Float64)
                let real = line [| for i in 0..99 -> float i |]
                // k = 3: real ball radii 2 inside, 3 at the ends 0 and 99 (in units of the line). A fake at
                // j is in the balls of the reals within 2 of it, and of 0 while j <= 3: 3, 4, 5, 6 balls for
                // j = 0..3, 5 for j = 4..49, so density = (18 + 46 x 5) / (3 x 50) = 248/150; the reals
                // 0..49 have a fake on them, 50 and 51 one within 2, 52 none within 2: coverage 52/100.
                let half = line [| for i in 0..49 -> float i |]
                let density, coverage = SampleQuality.densityCoverage real half 3
                output.WriteLine $"half of the line: density {density}, coverage {coverage}"
                Expect.floatClose (digits 12) density (248.0 / 150.0) "density of the first half"
                Expect.floatClose (digits 12) coverage 0.52 "coverage of the first half"
                // The set itself: 3, 4, 5, 6 balls at either end, 5 for the 92 between: 496 / 300; coverage 1.
                let density, coverage = SampleQuality.densityCoverage real real 3
                Expect.floatClose (digits 12) density (496.0 / 300.0) "density of the set itself"
                Expect.equal coverage 1.0 "coverage of the set itself"
                Expect.equal (SampleQuality.densityCoverage real (line [| for i in 0..49 -> 1000.0 + float i |]) 3) (0.0, 0.0) "far away"
                // One real outlier at 500 has a ball of radius 403 (its third neighbour is 97), which holds
                // 50 fakes gathered near it: precision counts them all as real-looking (1.0); density sees
                // one ball each (1/3) and coverage one real sample of 101.
                let withOutlier = line (Array.append [| for i in 0..99 -> float i |] [| 500.0 |])
                let gathered = line [| for i in 0..49 -> 480.0 + 0.1 * float i |]
                let precision, _ = SampleQuality.precisionRecall withOutlier gathered 3
                let density, coverage = SampleQuality.densityCoverage withOutlier gathered 3
                output.WriteLine $"fakes gathered in an outlier's ball: precision {precision}, density {density}, coverage {coverage}"
                Expect.equal precision 1.0 "precision is fooled"
                Expect.floatClose (digits 12) density (1.0 / 3.0) "density"
                Expect.floatClose (digits 12) coverage (1.0 / 101.0) "coverage"
            testCase "the classifier score is 10 for confident predictions spread over the classes and 1 for one class" <| fun () ->
                use scope = new TensorScope()
                let oneHot (classes: int[]) =
                    torch.tensor([| for c in classes do for k in 0..9 -> if k = c then 1.0 else 0.0 |], [| int64 classes.Length; 10L |])
                Expect.floatClose (digits 9) (SampleQuality.classifierScore (oneHot [| for i in 0..99 -> i % 10 |])) 10.0 "SampleQuality.classifierScore (oneHot [| for i in 0..99 -> i % 10 |])"
                Expect.floatClose (digits 9) (SampleQuality.classifierScore (oneHot (Array.create 50 7))) 1.0 "SampleQuality.classifierScore (oneHot (Array.create 50 7))"
                // Unsure predictions carry no information: p(y|x) = p(y) gives 1.
                Expect.floatClose (digits 9) (SampleQuality.classifierScore (torch.full ([| 20L; 10L |], 0.1, dtype = Float64))) 1.0 "SampleQuality.classifierScore (torch.full ([| 20L; 10L |], 0.1, dtype = Float64))"
                // Two classes, evenly: 2.
                Expect.floatClose (digits 9) (SampleQuality.classifierScore (oneHot [| for i in 0..99 -> 3 + 4 * (i % 2) |])) 2.0 "SampleQuality.classifierScore (oneHot [| for i in 0..99 -> 3 + 4 * (i % 2) |])"
                Expect.equal (SampleQuality.classHistogram (oneHot [| for i in 0..99 -> 3 + 4 * (i % 2) |])) [| 0; 0; 0; 50; 0; 0; 0; 50; 0; 0 |] "SampleQuality.classHistogram (oneHot [| for i in 0..99 -> 3 + 4 * (i % 2) |])"
        ]
        testSequenced <| testList "FeatureNetwork" [
            testCase "the versioned feature network has its recorded digest and classifies at least 99% of the test digits" <| fun () ->
                let path = FeatureNet.defaultPath ()
                Expect.equal (FeatureNet.digest path) FeatureNet.sha256 "FeatureNet.digest path"
                let threads = torch.get_num_threads ()
                try
                    use net = FeatureNet.load None
                    let accuracy = snd (Research.Core.Metrics.Classifier.evaluate net.forward mnist.Value.test)
                    output.WriteLine $"test accuracy {100.0 * accuracy:F2}%%"
                    Expect.isTrue (accuracy >= 0.99) $"test accuracy {accuracy}"
                finally
                    torch.set_num_threads threads
            testCase "weights other than the versioned ones are refused with their digest" <| fun () ->
                let path = IO.Path.Combine(IO.Path.GetTempPath(), $"lenet-{Guid.NewGuid():N}.safetensors")
                IO.File.Copy(FeatureNet.defaultPath (), path)
                try
                    use stream = IO.File.OpenWrite path
                    stream.Seek(-1L, IO.SeekOrigin.End) |> ignore
                    stream.WriteByte 0uy
                    stream.Dispose()
                    let e = raises<IO.InvalidDataException> (fun () -> FeatureNet.load (Some path) |> ignore)
                    Expect.stringContains e.Message "not comparable" "e.Message"
                finally
                    IO.File.Delete path
            testCase "scores.json reads back as written, a new score replaces its own rows and keeps the others, and the table lists every set, then the floors" <| fun () ->
                let scores (n: int) (fid: float) : SampleQuality.Scores =
                    { Images = n; Fid = fid; Kid = 0.5; KidStdErr = 0.1; Precision = 0.75; Recall = 0.5; Density = 0.9; Coverage = 0.6
                      ClassifierScore = 9.5; Classes = Array.create 10 10 }
                let set label checkpoint epoch n fid : ScoresFile.ScoredSet =
                    { Label = label; Images = $"{label}-idx3-ubyte"; Checkpoint = checkpoint; Epoch = epoch; Seed = 1; Scores = scores n fid }
                let floor n = set "MNIST training images" "" 0 n 1.5
                let net, reference = String('0', 64), "MNIST test images"
                let folder = NnTestSupport.tempFolder "scores"
                try
                    ScoresFile.update folder net reference (floor 100) [ set "samples" "best" 7 100 30.0; set "samples, T = 0.7" "best" 7 100 20.0 ] (TimeSpan.FromSeconds 5.0)
                    let first = (ScoresFile.read folder).Value
                    Expect.equal first.Sets.Length 2 "two rows"
                    // Another sample count adds its rows and floor; the same measurement again replaces its row.
                    ScoresFile.update folder net reference (floor 50) [ set "samples" "best" 7 50 35.0 ] (TimeSpan.FromSeconds 5.0)
                    ScoresFile.update folder net reference (floor 100) [ set "samples" "best" 7 100 29.0 ] (TimeSpan.FromSeconds 5.0)
                    let file = (ScoresFile.read folder).Value
                    Expect.equal [ for s in file.Sets -> s.Label, s.Scores.Images, s.Scores.Fid ]
                        [ "samples, T = 0.7", 100, 20.0; "samples", 50, 35.0; "samples", 100, 29.0 ] "rows kept and replaced"
                    Expect.equal [ for f in file.Floors -> f.Scores.Images ] [ 50; 100 ] "one floor per sample count"
                    Expect.equal (ScoresFile.read folder) (Some file) "read after write"
                    match ScoresFile.panels folder with
                    | [ Research.Core.Training.Table(_, header, rows); Research.Core.Training.Bars(_, _, _, bars) ] ->
                        Expect.equal (rows |> List.map List.head)
                            [ "samples, T = 0.7, best (epoch 7), seed 1"; "samples, best (epoch 7), seed 1"; "samples, best (epoch 7), seed 1"
                              "floor: MNIST training images, seed 1"; "floor: MNIST training images, seed 1" ] "the table's rows"
                        Expect.equal (rows |> List.map (fun r -> r.[List.findIndex ((=) "FID") header])) [ "20.00"; "35.00"; "29.00"; "1.50"; "1.50" ] "the FID column"
                        Expect.equal (rows |> List.map (fun r -> r.[List.findIndex ((=) "density") header])) (List.replicate 5 "0.900") "the density column"
                        Expect.equal bars.Length 5 "the histogram's series"
                    | panels -> failtest $"unexpected panels: {panels |> List.map Research.Core.Training.Panel.title}"
                finally
                    IO.Directory.Delete(folder, true)
            testCase "a scores.json from before density and coverage takes new rows, its old rows keeping their missing figures" <| fun () ->
                let folder = NnTestSupport.tempFolder "scores-old"
                try
                    // The layout `score` wrote then: checkpoint and seed at the top, one floor, no density or coverage.
                    let old (label: string) =
                        $"{{\"samples\": \"{label}\", \"images\": \"\", \"n\": 2000, \"fid\": 5.5, \"kid\": 1.6, \"kid_stderr\": 0.7, \"precision\": 0.87, \"recall\": 0.89, \"classifier_score\": 9.8, \"classes\": [1,2,3,4,5,6,7,8,9,10]}}"
                    let floorRow, setRow = old "MNIST training images", old "samples"
                    IO.File.WriteAllText(IO.Path.Combine(folder, "scores.json"),
                        $"{{\"checkpoint\": \"last\", \"seed\": 1, \"feature_net_sha256\": \"net\", \"reference\": \"ref\", \"floor\": {floorRow}, \"sets\": [{setRow}]}}")
                    let scores : SampleQuality.Scores =
                        { Images = 64; Fid = 100.0; Kid = 50.0; KidStdErr = 5.0; Precision = 0.8; Recall = 0.1; Density = 0.7; Coverage = 0.05
                          ClassifierScore = 3.3; Classes = Array.create 10 6 }
                    let floor = { Label = "MNIST training images"; Images = ""; Checkpoint = ""; Epoch = 0; Seed = 1; Scores = scores } : ScoresFile.ScoredSet
                    ScoresFile.update folder "net" "ref" floor [ { floor with Label = "samples"; Checkpoint = "last"; Epoch = 2 } ] (TimeSpan.FromSeconds 5.0)
                    let file = (ScoresFile.read folder).Value
                    Expect.equal [ for s in file.Sets -> s.Scores.Images, s.Scores.Fid ] [ 2000, 5.5; 64, 100.0 ] "the old row and the new one"
                    Expect.isTrue (Double.IsNaN file.Sets.[0].Scores.Density && Double.IsNaN file.Sets.[0].Scores.Coverage) "the old row's density and coverage stay missing"
                    Expect.equal (file.Sets.[1].Scores.Density, file.Sets.[1].Scores.Coverage) (0.7, 0.05) "the new row's"
                    Expect.stringContains (IO.File.ReadAllText(IO.Path.Combine(folder, "scores.json"))) "\"density\": null" "missing figures as null"
                finally
                    IO.Directory.Delete(folder, true)
            testCase "two score updates of one folder at once both land, and a killed writer's temporary file goes" <| fun () ->
                let scores : SampleQuality.Scores =
                    { Images = 10; Fid = 1.0; Kid = 0.5; KidStdErr = 0.1; Precision = 0.75; Recall = 0.5; Density = 0.9; Coverage = 0.6
                      ClassifierScore = 9.5; Classes = Array.create 10 1 }
                let folder = NnTestSupport.tempFolder "scores-race"
                try
                    let stale = IO.Path.Combine(folder, ".scores.json.0123456789abcdef.tmp")
                    IO.File.WriteAllText(stale, "half a write")
                    let floor = { Label = "MNIST training images"; Images = ""; Checkpoint = ""; Epoch = 0; Seed = 1; Scores = scores } : ScoresFile.ScoredSet
                    let updates =
                        [ for i in 1..8 ->
                              Threading.Tasks.Task.Run(fun () ->
                                  ScoresFile.update folder "net" "ref" floor [ { floor with Label = $"set {i}"; Checkpoint = "last" } ] (TimeSpan.FromSeconds 30.0)) ]
                    Threading.Tasks.Task.WaitAll(updates |> Array.ofList)
                    let file = (ScoresFile.read folder).Value
                    Expect.equal (file.Sets |> List.map (fun s -> s.Label) |> List.sort) [ for i in 1..8 -> $"set {i}" ] "every update's row"
                    Expect.isFalse (IO.File.Exists stale) "the stale temporary file"
                finally
                    IO.Directory.Delete(folder, true)
        ]
    ]

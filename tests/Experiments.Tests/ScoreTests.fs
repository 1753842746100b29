/// `score` and the comparison report as a user runs them: a briefly trained GAN scores better than
/// noise and worse than real data by FID, KID and the classifier score, a VAE's two sample sets are scored beside it,
/// scores.json lands in each run, and `report` over both runs compares them.
module Research.Experiments.Tests.ScoreTests

open System
open System.IO
open System.Text.Json
open Expecto
open Research.Tests.Checks
open Research.Experiments.Tests.Cli

/// Uniform noise as an IDX file of uint8 28 x 28 images.
let private writeNoise (path: string) (n: int) =
    let rng = Random 5
    let header = [| 0uy; 0uy; 8uy; 3uy; byte (n >>> 24); byte (n >>> 16); byte (n >>> 8); byte n; 0uy; 0uy; 0uy; 28uy; 0uy; 0uy; 0uy; 28uy |]
    let pixels = Array.zeroCreate<byte> (n * 784)
    rng.NextBytes pixels
    File.WriteAllBytes(path, Array.append header pixels)

/// The table `score` prints: row label -> cells.
let private table (out: string) =
    lines out
    |> Array.map (fun l -> l.Split("  ", StringSplitOptions.RemoveEmptyEntries ||| StringSplitOptions.TrimEntries))
    |> Array.filter (fun cells -> cells.Length = 9)
    |> Array.map (fun cells -> cells[0], cells)
    |> Map.ofArray

[<Tests>]
let tests =
    testList "ScoreTests" [
        testCase "score ranks a trained GAN between noise and real data, and report compares the scored runs" <| fun () ->
            use temp = new TempFolder "score"
            let gan, vae, noise = Path.Combine(temp.Path, "gan"), Path.Combine(temp.Path, "vae"), Path.Combine(temp.Path, "noise-idx3-ubyte")
            let common = [ "--limit"; "20000"; "--validation"; "1000"; "--threads"; "1" ]
            let trained = research temp.Path [] ([ "gan"; "train"; "--epochs"; "3"; "--image-epochs"; "3"; "--out"; gan ] @ common)
            Expect.isTrue (0 = trained.ExitCode) trained.Err
            let trained = research temp.Path [] ([ "vae"; "train"; "--epochs"; "1"; "--out"; vae ] @ common)
            Expect.isTrue (0 = trained.ExitCode) trained.Err
            writeNoise noise 2000
            let scored = research temp.Path [] [ "score"; gan; vae; noise; "--n"; "2000"; "--threads"; "1" ]
            Expect.isTrue (0 = scored.ExitCode) scored.Err
            let rows = table scored.Out
            let fid label = float rows[label].[2]
            let kid label = float (rows[label].[3].Split(' ')[0])
            let precision label = float rows[label].[4]
            let density label = float rows[label].[6]
            let coverage label = float rows[label].[7]
            let classifierScore label = float rows[label].[8]
            let real, generated, random = "floor: MNIST training images, seed 1", "gan: samples, last (epoch 3), seed 1", "noise-idx3-ubyte"
            for label in [ real; generated; random; "vae: decoder means, best (epoch 1), seed 1"; "vae: Bernoulli draws, best (epoch 1), seed 1" ] do
                Expect.isTrue (rows.ContainsKey label) $"no row '{label}' in\n{scored.Out}"
            Expect.isTrue (fid real < fid generated && fid generated < fid random) $"FID: real {fid real}, GAN {fid generated}, noise {fid random}"
            Expect.isTrue (kid real < kid generated && kid generated < kid random) $"KID: real {kid real}, GAN {kid generated}, noise {kid random}"
            Expect.isTrue (classifierScore real > classifierScore generated && classifierScore generated > classifierScore random) $"classifier score: real {classifierScore real}, GAN {classifierScore generated}, noise {classifierScore random}"
            // Noise's LeNet features gather in about one real image's k-NN ball: precision calls them
            // real (1.0 here); density counts that one ball over k = 5 (about 0.2, against about 1 for
            // real images), and coverage finds almost no real image with noise near it.
            output.WriteLine $"precision, density, coverage: real {precision real}, {density real}, {coverage real}; GAN {precision generated}, {density generated}, {coverage generated}; noise {precision random}, {density random}, {coverage random}"
            Expect.isLessThan (density random) 0.3 "noise's density"
            Expect.isLessThan (coverage random) 0.01 "noise's coverage"
            Expect.isGreaterThan (density real) 0.8 "real images' density"
            // 2,000 real images cover about half of the 10,000 test images' balls.
            Expect.isGreaterThan (coverage real) 0.4 "real images' coverage"
            Expect.isTrue (coverage generated > coverage random && density generated > density random) "the GAN covers more than noise"
            // scores.json in each run, with the floor and the versioned network's digest.
            use doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(gan, "scores.json")))
            Expect.equal (Math.Round(doc.RootElement.GetProperty("sets").[0].GetProperty("fid").GetDouble(), 2)) (fid generated) "Math.Round(doc.RootElement.GetProperty(\"sets\").[0].GetProperty(\"fid\").GetDouble(), 2)"
            Expect.equal (Math.Round(doc.RootElement.GetProperty("floors").[0].GetProperty("fid").GetDouble(), 2)) (fid real) "the floor's FID in scores.json"
            let set = doc.RootElement.GetProperty("sets").[0]
            Expect.equal (set.GetProperty("checkpoint").GetString(), set.GetProperty("epoch").GetInt32(), set.GetProperty("n").GetInt32(), set.GetProperty("seed").GetInt32())
                ("last", 3, 2000, 1) "what the row records"
            Expect.equal (doc.RootElement.GetProperty("feature_net_sha256").GetString().Length) 64 "doc.RootElement.GetProperty(\"feature_net_sha256\").GetString().Length"
            let classes = doc.RootElement.GetProperty("sets").[0].GetProperty("classes")
            Expect.equal (classes.EnumerateArray() |> Seq.sumBy (fun c -> c.GetInt32())) 2000 "classes.EnumerateArray() |> Seq.sumBy (fun c -> c.GetInt32())"
            Expect.isTrue (File.Exists(Path.Combine(vae, "scores.json"))) "File.Exists(Path.Combine(vae, \"scores.json\"))"
            // The comparison report.
            let out = Path.Combine(temp.Path, "compare")
            let report = research temp.Path [] [ "report"; gan; vae; "--no-verify"; "--out"; out ]
            Expect.isTrue (0 = report.ExitCode) report.Err
            let page = File.ReadAllText(Path.Combine(out, "report.html"))
            for text in [ "Sample quality, all runs"; "Predicted classes, all runs"; "Samples side by side"; "What each model offers as a likelihood"
                          "none: a GAN defines no density"; "a bound and an estimate"; "floor: MNIST training images"; "coverage" ] do
                Expect.stringContains page text "the report page"
        testCase "score refuses what it cannot score with one line" <| fun () ->
            use temp = new TempFolder "score-errors"
            let missing = research temp.Path [] [ "score"; Path.Combine(temp.Path, "nowhere") ]
            Expect.equal missing.ExitCode 2 "missing.ExitCode"
            Expect.stringContains missing.Err "no such run folder or IDX file" "missing.Err"
            let notRun = research temp.Path [] [ "score"; temp.Path ]
            Expect.equal notRun.ExitCode 2 "notRun.ExitCode"
            Expect.stringContains notRun.Err "not a run folder" "notRun.Err"
            let bad = Path.Combine(temp.Path, "bad-idx3-ubyte")
            File.WriteAllBytes(bad, [| 0uy; 0uy; 8uy; 3uy; 0uy |])
            let malformed = research temp.Path [] [ "score"; bad ]
            Expect.equal malformed.ExitCode 2 "malformed.ExitCode"
            Expect.equal ((lines malformed.Err).Length) 1 "(lines malformed.Err).Length"
            // Too few images for the 3rd nearest neighbour: said before any work, not a libtorch error.
            let few = research temp.Path [] [ "score"; bad; "--n"; "3" ]
            oneLineError 2 "--n must be at least 4" few
            let three = Path.Combine(temp.Path, "three-idx3-ubyte")
            File.WriteAllBytes(three, Array.concat [ [| 0uy; 0uy; 8uy; 3uy; 0uy; 0uy; 0uy; 3uy; 0uy; 0uy; 0uy; 28uy; 0uy; 0uy; 0uy; 28uy |]; Array.zeroCreate (3 * 784) ])
            oneLineError 2 "three-idx3-ubyte: 3 images; scoring needs at least 4" (research temp.Path [] [ "score"; three; "--n"; "4" ])
            // An IDX file gives its first --n images; one holding fewer is scored whole, with a note
            // that the floor has more (FID and KID are biased upwards at small n); an input given twice is refused.
            let ten = Path.Combine(temp.Path, "ten-idx3-ubyte")
            writeNoise ten 10
            let first = research temp.Path [] [ "score"; ten; "--n"; "6"; "--threads"; "1" ]
            Expect.equal first.ExitCode 0 first.Err
            let count (out: string) label = (table out).[label].[1]
            Expect.equal (count first.Out "ten-idx3-ubyte") "6" "images scored from a file of 10 at --n 6"
            Expect.isFalse (first.Out.Contains "note:") first.Out
            let fewer = research temp.Path [] [ "score"; ten; "--n"; "12"; "--threads"; "1" ]
            Expect.equal fewer.ExitCode 0 fewer.Err
            Expect.equal (count fewer.Out "ten-idx3-ubyte") "10" "images scored from a file of 10 at --n 12"
            Expect.equal (count fewer.Out "floor: MNIST training images, seed 1") "12" "the floor's images at --n 12"
            Expect.stringContains fewer.Out "holds 10 images, fewer than the floor's --n 12; FID and KID are biased upwards at small n, so compare at equal n (--n 10)" "the note"
            // The floor cannot have more images than the training split holds.
            oneLineError 2 "--n 50001 is more than the 50000 training images the floor scores; give at most 50000"
                (research temp.Path [] [ "score"; ten; "--n"; "50001"; "--threads"; "1" ])
            oneLineError 2 $"{ten} is given 2 times; score each input once" (research temp.Path [] [ "score"; ten; "./" + Path.GetRelativePath(temp.Path, ten) ])
            // A run of a family that draws no samples (here one the registry does not know).
            let other = Path.Combine(temp.Path, "other")
            Directory.CreateDirectory other |> ignore
            File.WriteAllText(Path.Combine(other, "config.json"), """{ "model": "nosuch" }""")
            oneLineError 2 "score draws samples from vae, gan, flow, diffusion, beta-vae runs, not from a 'nosuch' run; pass an IDX file of its images instead"
                (research temp.Path [] [ "score"; other; "--n"; "4" ])
    ]

module Research.Analysis.Tests.ReportDataTests

open System
open System.IO
open System.Text.Json
open Expecto
open Research.Tests.Checks
open Research.Core.Training
open Research.Analysis.Report
open Research.Analysis.Tests.TestSupport

[<Tests>]
let tests =
    testList "ReportDataTests" [
        testCase "metrics.csv written by the runner reads back as a table" <| fun () ->
            use folder = new TempFolder "metrics"
            let path = Path.Combine(folder.Path, "metrics.csv")
            let log = MetricsLog.Create(path, [ "epoch"; "train_elbo"; "val_elbo" ])
            log.Append [| 1.0; -120.5; -118.25 |]
            log.Append [| 2.0; -110.0; nan |]
            let table = MetricsTable.read path
            Expect.equal table.Columns [| "epoch"; "train_elbo"; "val_elbo" |] "table.Columns"
            Expect.equal ((table.TryColumn "train_elbo").Value) [| -120.5; -110.0 |] "(table.TryColumn \"train_elbo\").Value"
            Expect.isTrue (Double.IsNaN (table.TryColumn "val_elbo").Value[1]) "Double.IsNaN (table.TryColumn \"val_elbo\").Value[1]"
            Expect.isTrue ((table.TryColumn "kl").IsNone) "(table.TryColumn \"kl\").IsNone"
        testCase "config.json flattens to dotted keys" <| fun () ->
            let pairs = ConfigJson.flatten """{"model": {"latent": 20, "hidden": [400, 200]}, "lr": 0.001, "name": "vae", "amsgrad": false}"""
            Expect.equal pairs [| "model.latent", "20"; "model.hidden", "[400,200]"; "lr", "0.001"; "name", "vae"; "amsgrad", "false" |] "pairs"
        testCase "PCA projection matches numpy's SVD of the centred data" <| fun () ->
            // Correlated 6-d data with distinct variances, so the two leading axes are well defined.
            let rng = Random 11
            let n, d = 300, 6
            let values =
                Array.init n (fun _ ->
                    let a, b = rng.NextDouble() * 4.0 - 2.0, rng.NextDouble() - 0.5
                    Array.init d (fun j -> float32 (a * float (j + 1) + b * float (d - j) + 0.05 * rng.NextDouble())))
                |> Array.concat
            let projection = Pca.project2D values n d
            let script =
                """
import json, sys, numpy as np
x = np.array(json.load(open(sys.argv[1])), dtype=np.float64).reshape(int(sys.argv[2]), int(sys.argv[3]))
xc = x - x.mean(axis=0)
u, s, vt = np.linalg.svd(xc, full_matrices=False)
proj = xc @ vt[:2].T
var = s ** 2
print(json.dumps({'proj': proj.T.tolist(), 'explained': (var[:2] / var.sum()).tolist()}))
"""
            use folder = new TempFolder "pca"
            let path = Path.Combine(folder.Path, "x.json")
            File.WriteAllText(path, JsonSerializer.Serialize(values |> Array.map float))
            let reference = JsonDocument.Parse(python script [ path; string n; string d ]).RootElement
            let axis (k: int) = (reference.GetProperty "proj").[k].EnumerateArray() |> Seq.map _.GetDouble() |> Array.ofSeq
            // Singular vectors are defined up to sign.
            for ours, theirs in [ projection.X, axis 0; projection.Y, axis 1 ] do
                let sign = if Array.fold2 (fun acc a b -> acc + a * b) 0.0 ours theirs < 0.0 then -1.0 else 1.0
                Array.iter2 (fun a b -> Expect.floatClose (digits 8) (sign * a) b "sign * a") ours theirs
            let explained = reference.GetProperty("explained").EnumerateArray() |> Seq.map _.GetDouble() |> Array.ofSeq
            Expect.floatClose (digits 10) (fst projection.ExplainedVariance) (explained[0]) "fst projection.ExplainedVariance"
            Expect.floatClose (digits 10) (snd projection.ExplainedVariance) (explained[1]) "snd projection.ExplainedVariance"
    ]

/// The example script trains the beta-VAE (a family that is its folder and one registry line)
/// through the shared core into a normal run folder; `research report` draws that run with the
/// family's own panel, and `research beta-vae train` continues it, no command-line code of its own.
module Research.Experiments.Tests.ExampleTests

open System.IO
open Expecto
open Research.Tests.Checks
open Research.Experiments.Tests.Cli

/// PyTorch's beta-VAE samples: the decoder means (sigmoid of two tanh layers and a linear one) at
/// draws from N(0, I) by torch's own generator from the seed, with the weights read from the run's
/// best checkpoint; prints how many images the IDX file holds and its largest difference from
/// them in grey levels. Arguments: the run folder, the IDX file, the seed.
let private decoderMeans =
    """
import json, struct, sys, torch
run, idx, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
raw = open(run + "/checkpoints/best.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
def weight(name):
    a, b = header[name]["data_offsets"]
    return torch.frombuffer(bytearray(raw[8 + n + a:8 + n + b]), dtype=torch.float32).reshape(header[name]["shape"])
def linear(x, layer):
    return x @ weight(layer + ".weight").T + weight(layer + ".bias")
images = open(idx, "rb").read()
count = struct.unpack(">I", images[4:8])[0]
z = torch.randn(count, weight("decoder.hidden1.weight").shape[1], generator=torch.Generator().manual_seed(seed))
means = torch.sigmoid(linear(torch.tanh(linear(torch.tanh(linear(z, "decoder.hidden1")), "decoder.hidden2")), "decoder.out"))
ours = torch.tensor(list(images[16:]), dtype=torch.float32).reshape(count, -1)
print(json.dumps({"count": count, "largest_difference": (ours - 255 * means).abs().max().item()}))
"""

[<Tests>]
let tests =
    testList "ExampleTests" [
        testCase "examples/beta_vae.fsx trains through the core and the report draws its run" <| fun () ->
            use temp = new TempFolder "example"
            let run = Path.Combine(temp.Path, "beta-vae")
            let script = Path.Combine(repository, "examples", "beta_vae.fsx")
            use fsi = start temp.Path [] [ "fsi"; "--quiet"; script; run; "1"; "4" ]
            let r = finish fsi
            Expect.isTrue (0 = r.ExitCode) $"the script failed: {r.Err}{r.Out}"
            let metrics = File.ReadAllLines(Path.Combine(run, "metrics.csv"))
            Expect.equal (metrics[0]) "epoch,train_objective,train_elbo,kl,val_objective,val_elbo,val_kl,seconds" "metrics[0]"
            Expect.equal metrics.Length 2 "metrics.Length"
            // beta = 4: the objective is the ELBO less 3 KL, per image.
            let row = metrics[1].Split ',' |> Array.map float
            Expect.floatClose (digits 6) (row[1]) (row[2] - 3.0 * row[3]) "row[1]"
            Expect.isTrue (row[5] > -543.0) $"validation ELBO {row[5]} is no better than an untrained decoder"
            let config = File.ReadAllText(Path.Combine(run, "config.json"))
            Expect.stringContains config ("\"model\": \"beta-vae\"") "config"
            Expect.isTrue (File.Exists(Path.Combine(run, "checkpoints", "resume.safetensors"))) "File.Exists(Path.Combine(run, \"checkpoints\", \"resume.safetensors\"))"
            // The script wrote the report: the family's own panel is there.
            let page = File.ReadAllText(Path.Combine(run, "report.html"))
            for title in [ "beta-vae: objective"; "beta-vae: elbo"; "beta-vae: kl"; "<h3>samples</h3>"; "Latent traversals" ] do
                Expect.stringContains page title "the script's report"
            // The command line knows the family from its registry line: its `train` continues the
            // script's run with the run's own settings, and `report` draws its panel.
            let resumed = research temp.Path [] [ "beta-vae"; "train"; "--out"; run; "--resume"; "--epochs"; "2" ]
            Expect.isTrue (0 = resumed.ExitCode) resumed.Err
            Expect.equal (File.ReadAllLines(Path.Combine(run, "metrics.csv"))).Length 3 "metrics.csv after the resume"
            Expect.stringContains (File.ReadAllText(Path.Combine(run, "config.json"))) "\"beta\": 4" "the run's own beta"
            let report = research temp.Path [] [ "report"; run; "--no-verify" ]
            Expect.isTrue (0 = report.ExitCode) report.Err
            let page = File.ReadAllText(Path.Combine(run, "report.html"))
            for title in [ "beta-vae: objective"; "beta-vae: elbo"; "beta-vae: kl"; "<h3>samples</h3>"; "Latent traversals" ] do
                Expect.stringContains page title "the report page"
            // The samples of epochs 0 and 1 are one figure, with a slider step for each.
            for step in [ "\"label\":\"epoch 0\""; "\"label\":\"epoch 1\"" ] do
                Expect.stringContains page step "the samples' slider"
            // `sample` comes with the family's sample sets for `score`: its decoder means, which
            // PyTorch computes from the checkpoint's weights and its own draws from the same seed.
            let sampled = research temp.Path [] [ "beta-vae"; "sample"; run; "--n"; "70"; "--seed"; "3" ]
            Expect.isTrue (0 = sampled.ExitCode) sampled.Err
            let idx = Path.Combine(run, "samples", "best-n70-seed3-idx3-ubyte")
            Expect.isTrue (File.Exists(Path.Combine(run, "samples", "best-n70-seed3.png"))) "the PNG grid"
            let theirs = runProgram temp.Path "/usr/bin/python3" [] [ "-c"; decoderMeans; run; idx; "3" ]
            Expect.equal theirs.ExitCode 0 theirs.Err
            let check = System.Text.Json.JsonDocument.Parse(theirs.Out).RootElement
            Expect.equal (check.GetProperty("count").GetInt32()) 70 "images in the IDX file"
            // uint8 of the means: within rounding.
            Expect.isLessThanOrEqual (check.GetProperty("largest_difference").GetDouble()) 0.501 "grey levels from PyTorch's means"
        testCase "examples/beta_vae.fsx with bad arguments says so in one line and exits 2" <| fun () ->
            use temp = new TempFolder "example-args"
            let script = Path.Combine(repository, "examples", "beta_vae.fsx")
            for args, says in [ [ "run"; "one" ], "epochs is 'one', not a number"; [ "run"; "1"; "-4" ], "--beta must be a positive, finite number (got -4)" ] do
                use fsi = start temp.Path [] ([ "fsi"; "--quiet"; script ] @ args)
                let r = finish fsi
                Expect.equal r.ExitCode 2 $"{args}: the exit code ({r.Err})"
                let errors = lines r.Err
                Expect.equal errors.Length 1 $"{args}: one line on stderr, got: {r.Err}"
                Expect.stringContains errors[0] ("error: " + says) $"{args}: the line"
                Expect.isFalse (Directory.Exists(Path.Combine(temp.Path, "run"))) $"{args}: no run folder"
    ]

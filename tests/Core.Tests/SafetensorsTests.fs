/// Safetensors checkpoints: round trips, malformed and truncated files, and PyTorch reading ours
/// and writing what we read.
module Research.Core.Tests.SafetensorsTests

open System
open System.Buffers.Binary
open System.Collections.Generic
open System.IO
open System.Text
open Expecto
open Research.Tests.Checks
open FsCheck
open FsCheck.FSharp
open Research.Core
open Research.Core.Nn
open Research.Core.Checkpoints
open Research.Core.Tests.TensorTestSupport
open Research.Core.Tests.NnTestSupport

/// A file from a header text and a data section.
let raw (header: string) (data: byte[]) =
    let json = Encoding.UTF8.GetBytes header
    let length = Array.zeroCreate<byte> 8
    BinaryPrimitives.WriteUInt64LittleEndian(Span length, uint64 json.Length)
    Array.concat [ length; json; data ]

let parseError (bytes: byte[]) =
    (raises<InvalidDataException> (fun () -> SafetensorsFormat.parse ("test.safetensors", bytes) |> ignore)).Message

/// One tensor of every dtype, a scalar and an empty tensor.
let sample () =
    let metadata = Dictionary<string, string>(dict [ "format", "pt"; "epoch", "3" ])
    new StateDict(
        [ "f32", (randn64 1L [ 2; 3 ]).float ()
          "f64", randn64 2L [ 4 ]
          "i64", torch.tensor ([| -3L; 0L; Int64.MaxValue |], [| 3L; 1L |])
          "u8", torch.tensor [| 0uy; 7uy; 255uy; 128uy; 1uy |]
          "bool", torch.tensor ([| true; false; false; true |], [| 2L; 2L |])
          "scalar", torch.scalar_tensor 2.5
          "empty", torch.zeros [| 0L; 3L |] ],
        metadata
    )

[<Tests>]
let tests =
    testList "SafetensorsTests" [
        testList "RoundTrip" [
            testCase "tensors and metadata come back as they were, in a well-formed file" <| fun () ->
                let folder = tempFolder "safetensors"
                let path = Path.Combine(folder, "sample.safetensors")
                use original = sample ()
                Safetensors.save (path, original)
                use loaded = Safetensors.load path
                Expect.sequenceEqual loaded.names original.names "loaded.names"
                for name, t in original.entries do
                    let l = loaded.[name]
                    Expect.equal l.dtype t.dtype "l.dtype"
                    Expect.sequenceEqual l.shape t.shape "l.shape"
                    Expect.isTrue (t.equal l) $"{name} differs"
                Expect.sequenceEqual (loaded.metadata |> Seq.sortBy (fun kv -> kv.Key)) (original.metadata |> Seq.sortBy (fun kv -> kv.Key)) "the metadata, by key"
                // The header is padded with spaces so the data starts at a multiple of 8.
                let bytes = File.ReadAllBytes path
                let n = BinaryPrimitives.ReadUInt64LittleEndian(ReadOnlySpan(bytes, 0, 8))
                Expect.equal (n % 8UL) 0UL "n % 8UL"
                let header = Encoding.UTF8.GetString(bytes, 8, int n)
                let json = header.TrimEnd ' '
                Expect.isTrue (json.EndsWith "}" && header.Length - json.Length < 8) $"header padding: '{header}'"
                Directory.Delete(folder, true)
            testCase "writes are atomic: a file is replaced whole and no temporary file is left" <| fun () ->
                let folder = tempFolder "atomic"
                let path = Path.Combine(folder, "model.safetensors")
                use first = new StateDict([ "w", torch.ones [| 3L |] ])
                Safetensors.save (path, first)
                use second = new StateDict([ "w", torch.zeros [| 5L |]; "b", torch.ones [| 2L |] ])
                Safetensors.save (path, second)
                Expect.sequenceEqual (Directory.GetFiles folder |> Array.map Path.GetFileName) [| "model.safetensors" |] "Directory.GetFiles folder |> Array.map Path.GetFileName"
                (use loaded = Safetensors.load path in Expect.sequenceEqual (loaded.["w"].shape) [| 5L |] "loaded.[\"w\"].shape")
                // A save that fails leaves the previous file as it was.
                let disposed = torch.ones [| 1L |]
                disposed.Dispose()
                use broken = new StateDict([ "w", disposed ])
                raises<ObjectDisposedException> (fun () -> Safetensors.save (path, broken)) |> ignore
                (use loaded = Safetensors.load path in Expect.sequenceEqual (loaded.["w"].shape) [| 5L |] "loaded.[\"w\"].shape")
                Expect.equal (Directory.GetFiles(folder).Length) 1 "Directory.GetFiles(folder).Length"
                Directory.Delete(folder, true)
            testCase "PyTorch reads our file and we read PyTorch's, through an independent reader and writer" <| fun () ->
                withPyTorch (fun () ->
                    let folder = tempFolder "interop"
                    let ours = Path.Combine(folder, "ours.safetensors")
                    let theirs = Path.Combine(folder, "theirs.safetensors")
                    use original = sample ()
                    Safetensors.save (ours, original)
                    let oursPath, theirsPath = sprintf "%A" ours, sprintf "%A" theirs
                    let py =
                        runPython
                            $"""
import struct
DTYPES = {{'F32': (torch.float32, 'f'), 'F64': (torch.float64, 'd'), 'I64': (torch.int64, 'q'), 'U8': (torch.uint8, 'B'), 'BOOL': (torch.bool, '?')}}
def read(path):
    data = open(path, 'rb').read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop('__metadata__', {{}})
    body = data[8 + n:]
    out = {{}}
    for name, e in header.items():
        b, end = e['data_offsets']
        dtype, _ = DTYPES[e['dtype']]
        t = torch.frombuffer(bytearray(body[b:end]), dtype=dtype) if end > b else torch.empty(0, dtype=dtype)
        out[name] = {{'dtype': e['dtype'], 'shape': e['shape'], 'values': t.reshape(e['shape']).flatten().double().tolist()}}
    return out, meta
def write(path, tensors, meta):
    header, body = {{'__metadata__': meta}}, b''
    for name, (code, t) in tensors.items():
        values = t.flatten().tolist()
        raw = struct.pack('<' + str(len(values)) + DTYPES[code][1], *values)
        header[name] = {{'dtype': code, 'shape': list(t.shape), 'data_offsets': [len(body), len(body) + len(raw)]}}
        body += raw
    text = json.dumps(header).encode()
    text += b' ' * ((8 - len(text) %% 8) %% 8)
    open(path, 'wb').write(struct.pack('<Q', len(text)) + text + body)
tensors, meta = read({oursPath})
write({theirsPath}, {{
    'weight': ('F32', torch.arange(12, dtype=torch.float32).reshape(3, 4) / 7),
    'step': ('I64', torch.tensor([5, -1])),
    'mask': ('BOOL', torch.tensor([[True], [False]])),
    'x64': ('F64', torch.tensor(3.25, dtype=torch.float64)),
}}, {{'written_by': 'python'}})
print(json.dumps({{'tensors': tensors, 'meta': meta}}))
"""
                    let tensors = py.GetProperty "tensors"
                    for name, t in original.entries do
                        let e = tensors.GetProperty name
                        Expect.sequenceEqual [| for d in e.GetProperty("shape").EnumerateArray() -> d.GetInt64() |] t.shape "[| for d in e.GetProperty(\"shape\").EnumerateArray() -> d.GetInt64() |]"
                        assertClose name 0.0 0.0 (t.toFloat64Array ()) (floats (e.GetProperty "values"))
                    Expect.equal (py.GetProperty("meta").GetProperty("epoch").GetString()) "3" "py.GetProperty(\"meta\").GetProperty(\"epoch\").GetString()"
                    use loaded = Safetensors.load theirs
                    Expect.equal (loaded.metadata.["written_by"]) "python" "loaded.metadata.[\"written_by\"]"
                    use scope = new TensorScope()
                    Expect.isTrue (loaded.["weight"].equal ((torch.arange (12.0)).reshape(3L, 4L) / 7.0)) "loaded.[\"weight\"].equal ((torch.arange (12.0)).reshape(3L, 4L) / 7.0)"
                    Expect.sequenceEqual (loaded.["step"].toInt64Array ()) [| 5L; -1L |] "loaded.[\"step\"].toInt64Array ()"
                    Expect.sequenceEqual (loaded.["mask"].toArray<bool> ()) [| true; false |] "loaded.[\"mask\"].toArray<bool> ()"
                    Expect.sequenceEqual (loaded.["x64"].shape) [||] "loaded.[\"x64\"].shape"
                    Expect.equal (loaded.["x64"].item ()) 3.25 "loaded.[\"x64\"].item ()"
                    Directory.Delete(folder, true))
        ]
        testList "Malformed" [
            testCase "inconsistent files are rejected with what is wrong" <| fun () ->
                let four = Array.zeroCreate<byte> 4
                let tensor dtype shape (b: int) (e: int) =
                    "{\"t\": {\"dtype\": \"" + dtype + "\", \"shape\": " + shape + $", \"data_offsets\": [{b}, {e}]}}}}"
                Expect.stringContains (parseError [| 1uy; 2uy |]) "too short for the 8-byte header length" "parseError [| 1uy; 2uy |]"
                Expect.stringContains (parseError (Array.append (BitConverter.GetBytes 1000UL) (Array.zeroCreate 12))) "header length 1000 goes beyond the end of the file (20 bytes)" "parseError (Array.append (BitConverter.GetBytes 1000UL) (Array.zeroCreate 12))"
                Expect.stringContains (parseError (raw "{\"t\": " four)) "header is not valid JSON" "parseError (raw \"{\\\"t\\\": \" four)"
                Expect.stringContains (parseError (raw "[1, 2]" [||])) "header is not a JSON object" "parseError (raw \"[1, 2]\" [||])"
                Expect.stringContains (parseError (raw (tensor "F16" "[2]" 0 4) four)) "unknown dtype 'F16'" "parseError (raw (tensor \"F16\" \"[2]\" 0 4) four)"
                Expect.stringContains (parseError (raw (tensor "F32" "[2]" 0 8) four)) "outside the data section of 4 bytes" "parseError (raw (tensor \"F32\" \"[2]\" 0 8) four)"
                Expect.stringContains (parseError (raw (tensor "F32" "[2]" 0 4) four)) "needs 8 bytes but its offsets span 4" "parseError (raw (tensor \"F32\" \"[2]\" 0 4) four)"
                Expect.stringContains (parseError (raw (tensor "F32" "[-1]" 0 4) four)) "shape entry that is not a non-negative integer" "parseError (raw (tensor \"F32\" \"[-1]\" 0 4) four)"
                Expect.stringContains (parseError (raw "{\"t\": {\"dtype\": \"U8\", \"shape\": [4]}}" four)) ("no \"data_offsets\"") "parseError (raw \"{\\\"t\\\": {\\\"dtype\\\": \\\"U8\\\", \\\"shape\\\": [4]}}\" four)"
                let two = "{\"a\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [0, 4]}, \"b\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [2, 4]}}"
                Expect.stringContains (parseError (raw two four)) "overlaps the previous tensor" "parseError (raw two four)"
                let gap = "{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [2, 4]}}"
                Expect.stringContains (parseError (raw gap four)) "gap in the data section: bytes 0 to 2" "parseError (raw gap four)"
                let short = "{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]}}"
                Expect.stringContains (parseError (raw short four)) "the data section has 4 bytes but the tensors cover 2" "parseError (raw short four)"
                let twice = "{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]}, \"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [2, 4]}}"
                Expect.stringContains (parseError (raw twice four)) "key 'a' appears twice" "parseError (raw twice four)"
                Expect.stringContains (parseError (raw "{\"__metadata__\": {\"k\": 1}}" [||])) "metadata value 'k' is not a string" "parseError (raw \"{\\\"__metadata__\\\": {\\\"k\\\": 1}}\" [||])"
                Expect.stringContains (parseError (raw "{" [||])) "test.safetensors" "parseError (raw \"{\" [||])"
            testCase "every truncation of a valid file is rejected" <| fun () ->
                use original = sample ()
                let folder = tempFolder "truncate"
                let path = Path.Combine(folder, "t.safetensors")
                Safetensors.save (path, original)
                let whole = File.ReadAllBytes path
                Directory.Delete(folder, true)
                SafetensorsFormat.parse ("whole", whole) |> ignore
                for length in 0 .. whole.Length - 1 do
                    parseError whole.[.. length - 1] |> ignore
            testPropertyWithConfig ({ FsCheckConfig.defaultConfig with maxTest = 2000 }) "random bytes give entries or a clear exception, never anything else" (
                // Half the inputs are a valid header over random data, or random text as a header.
                let byteArray = Gen.arrayOf (Gen.choose (0, 255) |> Gen.map byte)
                let headered =
                    gen {
                        let! header =
                            Gen.elements
                                [ "{}"; "{\"a\": {\"dtype\": \"U8\", \"shape\": [3], \"data_offsets\": [0, 3]}}"
                                  "{\"a\": {\"dtype\": \"F32\", \"shape\": [1, 2], \"data_offsets\": [0, 8]}, \"__metadata__\": {}}"
                                  "{\"a\": {\"dtype\": \"I64\", \"shape\": [], \"data_offsets\": [0, 8]}}"; "{\"a\": 1}"; "{\"a\": {}}"; "null" ]
                        let! data = byteArray
                        return raw header data
                    }
                let property (input: byte[]) =
                    try
                        let entries, _ = SafetensorsFormat.parse ("random.safetensors", input)
                        // Accepted: the tensors cover the data section exactly.
                        entries |> Array.sumBy (fun e -> e.Data.Length) <= input.Length
                    with :? InvalidDataException as e ->
                        e.Message.StartsWith "safetensors file 'random.safetensors': "
                Prop.forAll (Arb.fromGen (Gen.oneof [ headered; byteArray ])) property)
        ]
    ]

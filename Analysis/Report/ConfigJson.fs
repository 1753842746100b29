module Research.Analysis.Report.ConfigJson

open System.IO
open System.Text.Json

/// config.json as (key, value) pairs in file order: nested objects give dotted keys
/// ("model.latent"), arrays stay as compact JSON ("[400,200]"), strings lose their quotes.
let flatten (json: string) : (string * string)[] =
    let rec walk (prefix: string) (e: JsonElement) =
        match e.ValueKind with
        | JsonValueKind.Object ->
            [ for p in e.EnumerateObject() do
                  yield! walk (if prefix = "" then p.Name else $"{prefix}.{p.Name}") p.Value ]
        | JsonValueKind.String -> [ prefix, e.GetString() ]
        | JsonValueKind.Array -> [ prefix, JsonSerializer.Serialize e ]
        | _ -> [ prefix, e.GetRawText() ]
    use doc = JsonDocument.Parse json
    walk "" doc.RootElement |> Array.ofList

let read (path: string) =
    try
        flatten (File.ReadAllText path)
    with :? JsonException as e ->
        raise (InvalidDataException($"{path}: not valid JSON ({e.Message})", e))

namespace Research.Core.Training

open System
open System.IO
open System.Text.Json

/// config.json read field by field: every error names the file and the field.
[<Sealed>]
type ConfigReader(source: string, root: JsonElement) =
    member _.Source = source
    member _.Fail(what: string) : 'T = raise (InvalidDataException $"{source}: {what}")
    member r.Has(name: string) = fst (root.TryGetProperty name)

    member r.Prop(name: string) =
        match root.TryGetProperty name with
        | true, v -> v
        | _ -> r.Fail $"missing \"{name}\""

    member r.Int(name: string) =
        let v = r.Prop name
        let mutable value = 0
        if v.ValueKind = JsonValueKind.Number && v.TryGetInt32(&value) then value else r.Fail $"\"{name}\" is not an integer"

    member r.Ints(name: string) =
        let v = r.Prop name
        let mutable value = 0
        if v.ValueKind <> JsonValueKind.Array then r.Fail $"\"{name}\" is not a list of integers"
        else
            [ for e in v.EnumerateArray() ->
                  if e.ValueKind = JsonValueKind.Number && e.TryGetInt32(&value) then value
                  else r.Fail $"\"{name}\" is not a list of integers" ]

    member r.Number(name: string) =
        let v = r.Prop name
        let mutable value = 0.0
        if v.ValueKind = JsonValueKind.Number && v.TryGetDouble(&value) then value else r.Fail $"\"{name}\" is not a number"

    member r.String(name: string) =
        let v = r.Prop name
        if v.ValueKind = JsonValueKind.String then v.GetString() else r.Fail $"\"{name}\" is not a string"

    member r.Bool(name: string) =
        match (r.Prop name).ValueKind with
        | JsonValueKind.True -> true
        | JsonValueKind.False -> false
        | _ -> r.Fail $"\"{name}\" is not true or false"

    /// An integer that configs written before the field existed lack.
    member r.IntOr(name: string, fallback: int) = if r.Has name then r.Int name else fallback

    /// Parses `text` (the contents of `source`) and reads it with `read`; an ArgumentException from
    /// `read` (an unknown name, a bad value) becomes InvalidDataException naming the file.
    static member Parse(source: string, text: string, read: ConfigReader -> 'T) =
        let doc =
            try JsonDocument.Parse text
            with :? JsonException as e -> raise (InvalidDataException($"{source}: not valid JSON ({e.Message})", e))
        use doc = doc
        if doc.RootElement.ValueKind <> JsonValueKind.Object then raise (InvalidDataException $"{source}: not a JSON object")
        try read (ConfigReader(source, doc.RootElement))
        with :? ArgumentException as e -> raise (InvalidDataException($"{source}: {e.Message}", e))

/// Writing config.json: one flat, indented object.
module ConfigWriter =
    let toText (write: Utf8JsonWriter -> unit) =
        use stream = new MemoryStream()
        (use w = new Utf8JsonWriter(stream, JsonWriterOptions(Indented = true))
         w.WriteStartObject()
         write w
         w.WriteEndObject())
        Text.Encoding.UTF8.GetString(stream.ToArray())

    let ints (w: Utf8JsonWriter) (name: string) (values: int list) =
        w.WriteStartArray name
        for v in values do w.WriteNumberValue v
        w.WriteEndArray()

    /// A finite number (JSON has no NaN or infinity; settings are validated before they are written).
    let number (w: Utf8JsonWriter) (name: string) (v: float) =
        if not (Double.IsFinite v) then invalidArg name $"{name} must be a finite number (got {v})"
        w.WriteNumber(name, v)

using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace Analytics.Replay.Incident;

/// <summary>What a scenario takes from the sample's SAM template: the Kinesis event's mapping, the function's memory and timeout, and its window.</summary>
/// <param name="Mapping">The event source mapping, in the scenario's own form.</param>
/// <param name="MemoryMb">The function's <c>MemorySize</c>.</param>
/// <param name="TimeoutSeconds">The function's <c>Timeout</c>.</param>
/// <param name="WindowSeconds">The <c>ANALYTICS_WINDOW_SECONDS</c> variable (60 when the template does not set it).</param>
/// <param name="SpillAfterSeconds">With <c>ANALYTICS_SPILL_BUCKET</c> set, the spill age (<c>ANALYTICS_SPILL_AFTER_SECONDS</c>, else the library's 300); null: no spilling.</param>
/// <param name="MaxPairs">The <c>ANALYTICS_MAX_PAIRS</c> variable; null when the template does not set it (the library's default).</param>
/// <param name="PerShardWatermarkOnly">The <c>ANALYTICS_PER_SHARD_WATERMARK_ONLY</c> variable.</param>
internal sealed record TemplateSettings(MappingFile Mapping, int MemoryMb, int TimeoutSeconds, int WindowSeconds, int? SpillAfterSeconds = null, int? MaxPairs = null, bool PerShardWatermarkOnly = false);

/// <summary>
/// Reads the settings of the one function with a Kinesis event out of a SAM template, and nothing else. Every property
/// of the Kinesis event must be one this reader knows how to carry into the emulator, so a setting added to the
/// template cannot be silently left out of the scenarios: it is an error naming it until the reader learns it.
/// </summary>
internal static class SamTemplate
{
    // 9000-01-01T00:00:00Z, the latest startTime of a scenario, in Unix seconds.
    private const long LatestTimestampSeconds = 221_845_392_000;

    private static readonly HashSet<string> s_eventProperties = new(StringComparer.Ordinal)
    {
        "Stream", "StartingPosition", "StartingPositionTimestamp", "BatchSize", "MaximumBatchingWindowInSeconds", "ParallelizationFactor",
        "FunctionResponseTypes", "BisectBatchOnFunctionError", "MaximumRetryAttempts", "MaximumRecordAgeInSeconds",
        "TumblingWindowInSeconds", "DestinationConfig", "Enabled",
    };

    /// <summary>The largest template read: 1 MiB, above CloudFormation's 1 MB for a template in S3.</summary>
    public const int MaxBytes = 1024 * 1024;

    /// <summary>Reads <paramref name="path"/>.</summary>
    /// <exception cref="ScenarioException">The file cannot be read, or does not have the shape this reader knows (the path in the template and the reason).</exception>
    public static TemplateSettings Read(string path)
    {
        byte[] bytes = InputFile.Read(path, "$.template", "the SAM template's YAML file", MaxBytes, $"a template is at most {MaxBytes:N0} (CloudFormation's largest, 1 MB from S3)");
        using var reader = new StreamReader(new MemoryStream(bytes)); // detects a byte order mark, as File.ReadAllText did
        string text = reader.ReadToEnd();
        return Parse(text, path);
    }

    public static TemplateSettings Parse(string yaml, string name)
    {
        var stream = new YamlStream();
        try
        {
            CheckExpansion(yaml, name);
            stream.Load(new StringReader(yaml));
        }
        catch (YamlDotNet.Core.YamlException ex)
        {
            throw Bad(name, "", $"not YAML: {ex.Message}");
        }

        if (stream.Documents.Count != 1 || Merged(stream.Documents[0].RootNode, name, new Dictionary<YamlNode, YamlNode>(ReferenceEqualityComparer.Instance)) is not YamlMappingNode root)
        {
            throw Bad(name, "", "expected one YAML document holding a mapping");
        }

        YamlMappingNode resources = Map(Child(root, "Resources", name, ""), name, "Resources");
        var functions = new List<(string Name, YamlMappingNode Resource, YamlMappingNode Properties, YamlMappingNode Event, string EventName)>();
        var mappings = new List<(string Name, YamlMappingNode Resource)>();
        foreach ((YamlNode key, YamlNode value) in resources.Children)
        {
            if (value is YamlMappingNode mappingResource && Scalar(mappingResource, "Type") == "AWS::Lambda::EventSourceMapping")
            {
                mappings.Add((Text(key), mappingResource));
                continue;
            }

            if (value is YamlMappingNode resource && Scalar(resource, "Type") == "AWS::Serverless::Function" &&
                resource.Children.TryGetValue(new YamlScalarNode("Properties"), out YamlNode? p) && p is YamlMappingNode properties &&
                properties.Children.TryGetValue(new YamlScalarNode("Events"), out YamlNode? e) && e is YamlMappingNode events)
            {
                foreach ((YamlNode eventName, YamlNode eventNode) in events.Children)
                {
                    if (eventNode is YamlMappingNode ev && Scalar(ev, "Type") == "Kinesis")
                    {
                        functions.Add((Text(key), resource, properties, ev, Text(eventName)));
                    }
                }
            }
        }

        // A mapping written as a resource of its own, instead of or beside the function's Kinesis event, was read past
        // without a word: the run used settings the template does not deploy (found by review). Its properties are the
        // API's (CreateEventSourceMapping), not the event's; refused rather than guessed at, unless its FunctionName is a
        // Ref or Fn::GetAtt of another resource of the template (a queue's consumer beside the stream's: refusing it
        // refused a template that ran before).
        foreach ((string mappingName, YamlMappingNode mappingResource) in mappings)
        {
            if (functions.Count != 1 || !NamesAnotherResource(mappingResource, functions[0].Name, resources))
            {
                throw Bad(name, $"Resources.{mappingName}.Type", "an AWS::Lambda::EventSourceMapping of its own, which replay does not read: it reads the mapping only from the function's Events of Type Kinesis; write the mapping there, or leave this resource out of the template replay reads");
            }
        }

        if (functions.Count != 1)
        {
            throw Bad(name, "Resources", $"expected exactly one AWS::Serverless::Function with one event of Type Kinesis; found {functions.Count}");
        }

        (string function, YamlMappingNode functionResource, YamlMappingNode props, YamlMappingNode kinesis, string eventNameText) = functions[0];

        // A function created only under a condition was run as if it always were (found by review); which way the
        // condition goes is the deployment's parameters', not the template's.
        if (functionResource.Children.TryGetValue(new YamlScalarNode("Condition"), out YamlNode? condition))
        {
            throw Bad(name, $"Resources.{function}.Condition", $"the function is created only when the condition {Shown(condition)} holds, which replay cannot decide (it depends on the deployment's parameters); remove the condition from the template replay reads");
        }

        string at = $"Resources.{function}.Properties";
        string eventAt = $"{at}.Events.{eventNameText}.Properties";
        YamlMappingNode mappingNode = Map(Child(kinesis, "Properties", name, $"{at}.Events.{eventNameText}"), name, eventAt);
        foreach (YamlNode key in mappingNode.Children.Keys)
        {
            if (!s_eventProperties.Contains(Text(key)))
            {
                throw Bad(name, $"{eventAt}.{Text(key)}", "a mapping setting the scenarios do not carry into the emulator; teach Incident/SamTemplate.cs (and the emulator) about it");
            }
        }

        var mapping = new MappingFile
        {
            StartingPosition = Optional(mappingNode, "StartingPosition"),
            BatchSize = Int(mappingNode, "BatchSize", name, eventAt),
            MaximumBatchingWindowInSeconds = Int(mappingNode, "MaximumBatchingWindowInSeconds", name, eventAt),
            ParallelizationFactor = Int(mappingNode, "ParallelizationFactor", name, eventAt),
            BisectBatchOnFunctionError = Bool(mappingNode, "BisectBatchOnFunctionError", name, eventAt),
            MaximumRetryAttempts = Int(mappingNode, "MaximumRetryAttempts", name, eventAt),
            MaximumRecordAgeInSeconds = Int(mappingNode, "MaximumRecordAgeInSeconds", name, eventAt),
            TumblingWindowInSeconds = Int(mappingNode, "TumblingWindowInSeconds", name, eventAt),
        };
        // Read as a boolean, as sam deploy reads it: "Enabled: no" or "off" (YAML 1.1's false), or a value from a
        // parameter or a condition, ran as an enabled mapping without a word (found by review).
        if (Bool(mappingNode, "Enabled", name, eventAt) == false)
        {
            throw Bad(name, $"{eventAt}.Enabled", "the mapping is disabled; nothing would be delivered");
        }

        if (mappingNode.Children.TryGetValue(new YamlScalarNode("StartingPositionTimestamp"), out YamlNode? timestamp))
        {
            // As AWS documents it: a Unix time in seconds (a number, not a date), here from the epoch to the latest
            // startTime a scenario may have.
            mapping.StartingPositionTimestamp = timestamp is YamlScalarNode { Value: { } text } &&
                double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds) && seconds is >= 0 and <= LatestTimestampSeconds
                ? DateTimeOffset.FromUnixTimeMilliseconds((long)(seconds * 1000))
                : throw Bad(name, $"{eventAt}.StartingPositionTimestamp", $"{Shown(timestamp)} is not a Unix time in seconds from 0 (1970-01-01T00:00:00Z) to 221845392000 (9000-01-01T00:00:00Z)");
        }

        if (mappingNode.Children.TryGetValue(new YamlScalarNode("FunctionResponseTypes"), out YamlNode? types))
        {
            mapping.FunctionResponseTypes = types is YamlSequenceNode list
                ? list.Children.Select(Text).ToList()
                : throw Bad(name, $"{eventAt}.FunctionResponseTypes", "expected a list");
        }

        if (mappingNode.Children.TryGetValue(new YamlScalarNode("DestinationConfig"), out YamlNode? destination))
        {
            string destinationAt = $"{eventAt}.DestinationConfig.OnFailure";
            YamlMappingNode onFailure = Map(Child(Map(destination, name, $"{eventAt}.DestinationConfig"), "OnFailure", name, $"{eventAt}.DestinationConfig"), name, destinationAt);
            string type = Scalar(onFailure, "Type") ?? throw Bad(name, destinationAt + ".Type", "missing; expected SQS, SNS or S3");
            mapping.DestinationConfig = new DestinationConfigFile
            {
                OnFailure = new OnFailureFile
                {
                    Destination = type switch
                    {
                        // SNS receives the same record as SQS (the emulator's docs); S3 adds the payload.
                        "SQS" or "SNS" => "sqs",
                        "S3" => "s3",
                        _ => throw Bad(name, destinationAt + ".Type", $"{Quoted(type)} is not SQS, SNS or S3"),
                    },
                },
            };
        }

        // SAM's Globals section: a function's own property wins, and its environment variables are added to the globals'
        // (found by review: MemorySize set under Globals was reported missing).
        YamlMappingNode? globals = root.Children.TryGetValue(new YamlScalarNode("Globals"), out YamlNode? g) &&
            Map(g, name, "Globals").Children.TryGetValue(new YamlScalarNode("Function"), out YamlNode? gf) ? Map(gf, name, "Globals.Function") : null;
        int memory = Int(props, "MemorySize", name, at) ?? (globals is null ? null : Int(globals, "MemorySize", name, "Globals.Function"))
            ?? throw Bad(name, at + ".MemorySize", "missing (here and in Globals.Function)");
        int timeout = Int(props, "Timeout", name, at) ?? (globals is null ? null : Int(globals, "Timeout", name, "Globals.Function"))
            ?? throw Bad(name, at + ".Timeout", "missing (here and in Globals.Function)");
        int window = 60;
        int? spillAfter = null;
        int? maxPairs = null;
        bool perShardOnly = false;
        YamlMappingNode? variables = null;
        var variableAt = new Dictionary<string, string>(StringComparer.Ordinal); // where each variable was set, for messages
        var sources = new List<(YamlMappingNode Node, string Where)>(2);
        if (globals is not null)
        {
            sources.Add((globals, "Globals.Function"));
        }

        sources.Add((props, at));
        foreach ((YamlMappingNode node, string where) in sources)
        {
            if (node.Children.TryGetValue(new YamlScalarNode("Environment"), out YamlNode? environment) &&
                Map(environment, name, where + ".Environment").Children.TryGetValue(new YamlScalarNode("Variables"), out YamlNode? variablesNode))
            {
                variables ??= new YamlMappingNode();
                foreach ((YamlNode key, YamlNode value) in Map(variablesNode, name, where + ".Environment.Variables").Children)
                {
                    variables.Children[key] = value;
                    variableAt[Text(key)] = where;
                }
            }
        }

        if (variables is not null)
        {
            window = Seconds(variables, "ANALYTICS_WINDOW_SECONDS", 3600, name, variableAt.GetValueOrDefault("ANALYTICS_WINDOW_SECONDS", at)) ?? 60;
            spillAfter = Seconds(variables, "ANALYTICS_SPILL_AFTER_SECONDS", 604_800, name, variableAt.GetValueOrDefault("ANALYTICS_SPILL_AFTER_SECONDS", at));

            // Read as the function reads them (SampleSettings), so the run spills exactly when the deployed function
            // would: a blank value is its init error, a spill bucket without a table too. A reference (Ref, Fn::Sub) is a
            // name the deployment fills in.
            var values = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach ((YamlNode key, YamlNode value) in variables.Children)
            {
                values[Text(key)] = value is YamlScalarNode scalar ? scalar.Value ?? string.Empty : "from-the-template";
            }

            Analytics.SampleLambda.SampleSettings settings;
            try
            {
                Analytics.SampleLambda.SampleSettings.CheckNames(values.Keys);
                settings = Analytics.SampleLambda.SampleSettings.FromEnvironment(values.GetValueOrDefault);
            }
            catch (InvalidOperationException e)
            {
                // The variable the message names, where it was set (Globals.Function or the function's own).
                string setAt = variableAt.FirstOrDefault(v => e.Message.StartsWith(v.Key, StringComparison.Ordinal)).Value ?? at;
                throw Bad(name, setAt + ".Environment.Variables", "the function would fail its init: " + e.Message);
            }

            // The sample's own default when the age is not set (SampleSettings): the library's SpillAfterAge.
            spillAfter = settings.SpillBucket is null ? null : (int)(settings.SpillAfter ?? Analytics.Core.ProcessorOptions.Default.SpillAfterAge).TotalSeconds;
            // Found by review: the pair cap was checked here and then dropped, so a replay hid the early stops it causes.
            maxPairs = values.ContainsKey(Analytics.Core.KinesisFunctionSettings.MaxPairsVariable) ? settings.Function.MaxPairs : null;
            perShardOnly = settings.PerShardWatermarkOnly;
        }

        return new TemplateSettings(mapping, memory, timeout, window, spillAfter, maxPairs, perShardOnly);
    }

    private static int? Seconds(YamlMappingNode variables, string key, int max, string name, string at)
    {
        if (!variables.Children.TryGetValue(new YamlScalarNode(key), out YamlNode? seconds))
        {
            return null;
        }

        return int.TryParse(Text(seconds), NumberStyles.None, CultureInfo.InvariantCulture, out int s) && s >= 1 && s <= max
            ? s
            : throw Bad(name, $"{at}.Environment.Variables.{key}", $"{Shown(seconds)} is not a whole number of seconds from 1 to {max.ToString("N0", CultureInfo.InvariantCulture)}");
    }

    /// <summary>The most nodes a template's aliases may add when expanded: 100,000.</summary>
    public const long MaxAliasNodes = 100_000;

    /// <summary>The most scalar characters a template's aliases may add when expanded: 10,000,000.</summary>
    public const long MaxAliasCharacters = 10_000_000;

    /// <summary>The deepest a template may nest lists and mappings: 1,000.</summary>
    public const int MaxDepth = 1_000;

    /// <summary>
    /// Refuses a template whose aliases add more than <see cref="MaxAliasNodes"/> nodes or <see cref="MaxAliasCharacters"/>
    /// characters when expanded, or that has an alias inside the node its anchor names. Aliases nested in each other make
    /// a template of a kilobyte expand without bound ("billion laughs"), and reading one, or quoting a value in an error,
    /// took hours or gigabytes (found by review); so did a long scalar aliased many times (the next review), and an alias
    /// of the node it is in made a list that holds itself, whose hashing overflowed the stack. Aliases themselves are
    /// fine: <c>sam deploy</c> and <c>aws cloudformation package</c> expand them, so a template may use them (a first fix
    /// refused every alias). What the template writes out is bounded by its size (<see cref="MaxBytes"/>) alone.
    /// Each anchored node's size is counted once, from the parser's events, so the check itself never expands anything.
    /// </summary>
    private static void CheckExpansion(string yaml, string name)
    {
        if (Expansion(yaml, MaxAliasNodes, MaxAliasCharacters).Problem is { } problem)
        {
            throw Bad(name, "", problem);
        }
    }

    /// <summary>
    /// What <paramref name="yaml"/> holds with every alias expanded: its nodes (a scalar, a list or a mapping with what it
    /// holds, keys included) and of those the nodes and scalar characters its aliases add; and, when an alias stands in
    /// the node its anchor names or the aliases add more than the bounds, why (the counts then stop there).
    /// </summary>
    internal static (long Nodes, long AliasNodes, long AliasCharacters, string? Problem) Expansion(string yaml, long maxAliasNodes, long maxAliasCharacters)
    {
        var sizes = new Dictionary<string, (long Nodes, long Characters)>(StringComparer.Ordinal);
        var open = new Stack<(string? Anchor, long Nodes, long Characters)>();
        var parser = new YamlDotNet.Core.Parser(new StringReader(yaml));
        long total = 0;
        long aliasNodes = 0;
        long aliasCharacters = 0;

        // PyYAML, sam deploy's reader, refuses an anchor defined twice; YamlDotNet's merge took the last one anywhere in
        // the document, so a merge key could take an anchor defined after it (found by review).
        string? Redefined(string anchor, long line) =>
            sizes.ContainsKey(anchor) || open.Any(o => o.Anchor == anchor)
                ? string.Create(CultureInfo.InvariantCulture, $"the anchor &{anchor} at line {line} is defined a second time")
                : null;

        while (parser.MoveNext())
        {
            (long Nodes, long Characters) add;
            switch (parser.Current)
            {
                case YamlDotNet.Core.Events.AnchorAlias alias:
                    string target = alias.Value.Value;
                    if (open.Any(o => o.Anchor == target))
                    {
                        return (total, aliasNodes, aliasCharacters, string.Create(CultureInfo.InvariantCulture, $"the alias *{target} at line {alias.Start.Line} stands inside the node its anchor names (a node that holds itself)"));
                    }

                    // As sam deploy's reader (PyYAML) does: an alias before its anchor is an error. YamlDotNet resolved it
                    // at the document's end, past this count, into nodes that held each other (a stack overflow; found
                    // by review).
                    if (!sizes.TryGetValue(target, out add))
                    {
                        return (total, aliasNodes, aliasCharacters, string.Create(CultureInfo.InvariantCulture, $"the alias *{target} at line {alias.Start.Line} comes before its anchor &{target}"));
                    }

                    aliasNodes += add.Nodes;
                    aliasCharacters += add.Characters;
                    if (aliasNodes > maxAliasNodes || aliasCharacters > maxAliasCharacters)
                    {
                        return (total, aliasNodes, aliasCharacters, string.Create(CultureInfo.InvariantCulture, $"its aliases expand to more than {maxAliasNodes:N0} nodes or {maxAliasCharacters:N0} characters (by line {alias.Start.Line}); a template's aliases are expanded where they are used"));
                    }

                    break;
                case YamlDotNet.Core.Events.Scalar scalar:
                    add = (1, scalar.Value.Length);
                    if (!scalar.Anchor.IsEmpty)
                    {
                        if (Redefined(scalar.Anchor.Value, scalar.Start.Line) is { } twice)
                        {
                            return (total, aliasNodes, aliasCharacters, twice);
                        }

                        sizes[scalar.Anchor.Value] = add;
                    }

                    break;
                case YamlDotNet.Core.Events.NodeEvent { Anchor: var anchor } start and (YamlDotNet.Core.Events.SequenceStart or YamlDotNet.Core.Events.MappingStart):
                    if (!anchor.IsEmpty && Redefined(anchor.Value, start.Start.Line) is { } again)
                    {
                        return (total, aliasNodes, aliasCharacters, again);
                    }

                    // Loading a template walks it recursively: 40,000 nested lists in 95 KB overflowed the stack (review).
                    if (open.Count >= MaxDepth)
                    {
                        return (total, aliasNodes, aliasCharacters, string.Create(CultureInfo.InvariantCulture, $"it nests lists and mappings more than {MaxDepth:N0} deep (at line {start.Start.Line})"));
                    }

                    open.Push((anchor.IsEmpty ? null : anchor.Value, 1, 0));
                    continue;
                case YamlDotNet.Core.Events.SequenceEnd or YamlDotNet.Core.Events.MappingEnd:
                    (string? closed, long nodes, long characters) = open.Pop();
                    add = (nodes, characters);
                    if (closed is not null)
                    {
                        sizes[closed] = add;
                    }

                    break;
                default:
                    continue;
            }

            // Each count is at most what the template writes (1 MiB) plus the aliases' bounds: no overflow.
            if (open.Count > 0)
            {
                (string? anchor, long nodes, long characters) = open.Pop();
                open.Push((anchor, nodes + add.Nodes, characters + add.Characters));
            }
            else
            {
                total += add.Nodes;
            }
        }

        return (total, aliasNodes, aliasCharacters, null);
    }

    /// <summary>
    /// <paramref name="node"/> with its merge keys (<c>&lt;&lt;: *common</c>, <c>&lt;&lt;: [*a, *b]</c>) merged as sam deploy's
    /// reader (PyYAML) merges them: a mapping's own keys first, then each merged mapping's keys it does not have, earlier
    /// ones in a list first. They had been kept as a key and their settings silently dropped, and YamlDotNet's merging
    /// parser refused a key given both ways (found by reviews). Each node is merged once (<paramref name="done"/>): an
    /// alias shares its anchor's, and what aliases add is bounded (<see cref="CheckExpansion"/>), as is the depth.
    /// </summary>
    private static YamlNode Merged(YamlNode node, string name, Dictionary<YamlNode, YamlNode> done)
    {
        if (node is YamlScalarNode)
        {
            return node;
        }

        if (done.TryGetValue(node, out YamlNode? merged))
        {
            return merged;
        }

        if (node is YamlSequenceNode list)
        {
            var copy = new YamlSequenceNode();
            done[node] = copy;
            foreach (YamlNode item in list.Children)
            {
                copy.Add(Merged(item, name, done));
            }

            return copy;
        }

        var map = (YamlMappingNode)node;
        var result = new YamlMappingNode();
        done[node] = result;
        var mergeKey = new YamlScalarNode("<<");
        foreach ((YamlNode key, YamlNode value) in map.Children)
        {
            if (!key.Equals(mergeKey))
            {
                result.Children[key] = Merged(value, name, done);
            }
        }

        if (map.Children.TryGetValue(mergeKey, out YamlNode? merge))
        {
            foreach (YamlNode source in merge is YamlSequenceNode sources ? sources.Children : [merge])
            {
                if (Merged(source, name, done) is not YamlMappingNode from)
                {
                    throw Bad(name, "", $"a merge key (<<) takes a mapping or a list of mappings, not {Shown(source)}");
                }

                foreach ((YamlNode key, YamlNode value) in from.Children)
                {
                    result.Children.TryAdd(key, value);
                }
            }
        }

        return result;
    }

    /// <summary>
    /// Whether <paramref name="mapping"/>'s <c>FunctionName</c> is a <c>Ref</c> or <c>Fn::GetAtt</c> (long or short form)
    /// of a function of the template other than <paramref name="function"/>.
    /// </summary>
    private static bool NamesAnotherResource(YamlMappingNode mapping, string function, YamlMappingNode resources)
    {
        if (!mapping.Children.TryGetValue(new YamlScalarNode("Properties"), out YamlNode? p) || p is not YamlMappingNode properties ||
            !properties.Children.TryGetValue(new YamlScalarNode("FunctionName"), out YamlNode? named))
        {
            return false;
        }

        string? target = named switch
        {
            YamlScalarNode { Value: { } text } scalar when !scalar.Tag.IsEmpty && scalar.Tag.Value == "!Ref" => text,
            YamlScalarNode { Value: { } text } scalar when !scalar.Tag.IsEmpty && scalar.Tag.Value == "!GetAtt" => text.Split('.')[0],
            YamlMappingNode { Children.Count: 1 } reference when Scalar(reference, "Ref") is { } text => text,
            YamlMappingNode { Children.Count: 1 } reference when Scalar(reference, "Fn::GetAtt") is { } text => text.Split('.')[0],
            YamlMappingNode { Children.Count: 1 } reference when reference.Children.TryGetValue(new YamlScalarNode("Fn::GetAtt"), out YamlNode? a) &&
                a is YamlSequenceNode { Children: [YamlScalarNode { Value: { } text }, ..] } => text,
            _ => null,
        };
        // A function of its own: an alias or a version (AWS::Lambda::Alias) of the Kinesis function is that function.
        return target is not null && target != function && resources.Children.TryGetValue(new YamlScalarNode(target), out YamlNode? resource) &&
            resource is YamlMappingNode other && Scalar(other, "Type") is "AWS::Serverless::Function" or "AWS::Lambda::Function";
    }

    /// <summary>A scalar's text; anything else as <see cref="Shown"/> names it (a node's ToString() prints it expanded, aliases and all).</summary>
    private static string Text(YamlNode node) => node is YamlScalarNode { Value: { } text } ? text : Shown(node);

    /// <summary>A value as an error quotes it: a scalar in quotes, cut at 100 characters; a list or a mapping by its kind.</summary>
    private static string Shown(YamlNode node) => node switch
    {
        YamlScalarNode { Value: { } text } => Quoted(text),
        YamlSequenceNode => "a list",
        YamlMappingNode => "a mapping",
        _ => "an empty value",
    };

    /// <summary>A text in quotes, cut at 100 characters.</summary>
    private static string Quoted(string text) => text.Length <= 100 ? $"'{text}'" : $"'{text[..100]}...' ({text.Length:N0} characters)";

    private static ScenarioException Bad(string name, string at, string reason) =>
        new("$.template", $"{name}: {(at.Length == 0 ? string.Empty : at + ": ")}{reason}");

    private static YamlNode Child(YamlMappingNode node, string key, string name, string at) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out YamlNode? child) ? child : throw Bad(name, at.Length == 0 ? key : $"{at}.{key}", "missing");

    private static YamlMappingNode Map(YamlNode node, string name, string at) =>
        node as YamlMappingNode ?? throw Bad(name, at, "expected a mapping");

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out YamlNode? value) && value is YamlScalarNode scalar ? scalar.Value : null;

    private static string? Optional(YamlMappingNode node, string key) => Scalar(node, key);

    private static int? Int(YamlMappingNode node, string key, string name, string at)
    {
        if (!node.Children.TryGetValue(new YamlScalarNode(key), out YamlNode? value))
        {
            return null;
        }

        return value is YamlScalarNode { Value: { } text } && int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int number)
            ? number
            : throw Bad(name, $"{at}.{key}", $"{Shown(value)} is not a whole number");
    }

    private static bool? Bool(YamlMappingNode node, string key, string name, string at)
    {
        if (!node.Children.TryGetValue(new YamlScalarNode(key), out YamlNode? value))
        {
            return null;
        }

        return value is YamlScalarNode { Value: { } text } scalar && Boolean(text, scalar.Style == YamlDotNet.Core.ScalarStyle.Plain) is bool read
            ? read
            : throw Bad(name, $"{at}.{key}", $"{Shown(value)} is not true or false");
    }

    /// <summary>
    /// A boolean as sam deploy's reader (PyYAML, YAML 1.1) reads a plain scalar: true and false in three cases, and
    /// yes/no and on/off too; quoted, the strings true and false, which CloudFormation takes for a boolean. Null: none.
    /// </summary>
    private static bool? Boolean(string text, bool plain) => text switch
    {
        "true" or "True" or "TRUE" => true,
        "false" or "False" or "FALSE" => false,
        "yes" or "Yes" or "YES" or "on" or "On" or "ON" when plain => true,
        "no" or "No" or "NO" or "off" or "Off" or "OFF" when plain => false,
        _ => null,
    };
}

using System.Globalization;
using System.Text.Json;

namespace Analytics.Core.Testing;

/// <summary>
/// The names and values an expression may use (<c>ExpressionAttributeNames</c>, <c>ExpressionAttributeValues</c>),
/// and which of them the request's expressions used, so unused ones are rejected as DynamoDB rejects them.
/// </summary>
internal sealed class ExpressionContext
{
    private readonly IReadOnlyDictionary<string, string> _names;
    private readonly IReadOnlyDictionary<string, DynamoValue> _values;
    private UsedKeys _usedNames; // most requests use no placeholder or one
    private UsedKeys _usedValues;

    public ExpressionContext(JsonElement request)
        : this(new JsonRequestView(request))
    {
    }

    public ExpressionContext(DynamoRequestView request)
    {
        // A view that holds them already (the SDK's objects, read once) lends its maps; only lookups are made here.
        _names = request.LookupNames();
        _values = request.LookupValues();
    }

    /// <summary>The expression currently parsed, for messages (<c>ConditionExpression</c>, ...).</summary>
    public string Kind { get; set; } = "ConditionExpression";

    public string Name(string placeholder)
    {
        // An empty name is no name: the service reports it as undefined (found by review: an attribute named "" was stored).
        if (!_names.TryGetValue(placeholder, out string? name) || name.Length == 0)
        {
            throw DynamoError.Validation($"Invalid {Kind}: An expression attribute name used in the document path is not defined; attribute name: {placeholder}");
        }

        _usedNames.Add(placeholder);
        return name;
    }

    public DynamoValue Value(string placeholder)
    {
        if (!_values.TryGetValue(placeholder, out DynamoValue? value))
        {
            throw DynamoError.Validation($"Invalid {Kind}: An expression attribute value used in expression is not defined; attribute value: {placeholder}");
        }

        _usedValues.Add(placeholder);
        return value;
    }

    /// <summary>Rejects names or values that no expression used (DynamoDB does).</summary>
    public void CheckAllUsed()
    {
        if (_usedNames.Count == _names.Count && _usedValues.Count == _values.Count)
        {
            return; // every placeholder used is one of them (an unknown one throws when used)
        }

        UsedKeys usedNames = _usedNames, usedValues = _usedValues;
        string[] unusedNames = _names.Keys.Where(k => !usedNames.Contains(k)).Order(StringComparer.Ordinal).ToArray();
        if (unusedNames.Length > 0)
        {
            throw DynamoError.Validation("Value provided in ExpressionAttributeNames unused in expressions: keys: {" + string.Join(", ", unusedNames) + "}");
        }

        string[] unusedValues = _values.Keys.Where(k => !usedValues.Contains(k)).Order(StringComparer.Ordinal).ToArray();
        if (unusedValues.Length > 0)
        {
            throw DynamoError.Validation("Value provided in ExpressionAttributeValues unused in expressions: keys: {" + string.Join(", ", unusedValues) + "}");
        }
    }

    /// <summary>The distinct placeholders used: the first one kept alone, a set made only for a second one.</summary>
    private struct UsedKeys
    {
        private string? _one;
        private HashSet<string>? _more;

        public readonly int Count => _more?.Count ?? (_one is null ? 0 : 1);

        public void Add(string key)
        {
            if (_more is not null)
            {
                _more.Add(key);
            }
            else if (_one is null)
            {
                _one = key;
            }
            else if (!string.Equals(_one, key, StringComparison.Ordinal))
            {
                _more = new HashSet<string>(StringComparer.Ordinal) { _one, key };
            }
        }

        public readonly bool Contains(string key) => _more?.Contains(key) ?? string.Equals(_one, key, StringComparison.Ordinal);
    }
}

/// <summary>How two paths of one update relate (<see cref="DynamoExpressionParser.Compare(DocumentPath, DocumentPath)"/>).</summary>
internal enum PathRelation
{
    Apart,
    Overlap,
    Conflict,
}

/// <summary>A document path: attribute names and list indexes.</summary>
internal sealed record DocumentPath(IReadOnlyList<object> Segments)
{
    public string Head => (string)Segments[0];

    public DynamoValue? Resolve(IReadOnlyDictionary<string, DynamoValue> item)
    {
        if (!item.TryGetValue(Head, out DynamoValue? current))
        {
            return null;
        }

        for (int i = 1; i < Segments.Count && current is not null; i++)
        {
            current = Segments[i] switch
            {
                string name when current.Type == DynamoType.M => current.Map!.GetValueOrDefault(name),
                int index when current.Type == DynamoType.L => index < current.List!.Count ? current.List[index] : null,
                _ => null,
            };
        }

        return current;
    }

    public override string ToString() => string.Concat(Segments.Select((s, i) => s is int n ? "[" + n.ToString(CultureInfo.InvariantCulture) + "]" : (i == 0 ? "" : ".") + s));

    /// <summary>The path as DynamoDB's messages list it: <c>[a, b, [0]]</c>.</summary>
    public string Pieces() => "[" + string.Join(", ", Segments.Select(s => s is int n ? "[" + n.ToString(CultureInfo.InvariantCulture) + "]" : (string)s)) + "]";
}

/// <summary>
/// A request's placeholder values and document paths (names resolved), in the order the expression uses them, which a
/// parsed expression reads when it is evaluated: one parsed expression serves every request with the same text.
/// </summary>
internal sealed class ExpressionBinding(DynamoValue[] values, DocumentPath[] paths)
{
    public DynamoValue[] Values { get; } = values;

    public DocumentPath[] Paths { get; } = paths;
}

/// <summary>A document path as written: attribute names, <c>#name</c> placeholders (by slot) and list indexes.</summary>
internal sealed class PathTemplate
{
    private readonly List<object> _segments;
    private readonly DocumentPath? _fixed; // when the path has no placeholder

    public PathTemplate(List<object> segments)
    {
        _segments = segments;
        _fixed = segments.Any(s => s is NameSlot) ? null : new DocumentPath(segments);
    }

    public DocumentPath Bind(string[] names)
    {
        if (_fixed is not null)
        {
            return _fixed;
        }

        var segments = new List<object>(_segments.Count);
        foreach (object s in _segments)
        {
            segments.Add(s is NameSlot n ? names[n.Slot] : s);
        }

        return new DocumentPath(segments);
    }

    /// <summary>The n-th <c>#name</c> placeholder the expression uses.</summary>
    public sealed record NameSlot(int Slot);
}

/// <summary>
/// A parsed expression, independent of the request's <c>ExpressionAttributeNames</c> and <c>ExpressionAttributeValues</c>:
/// the placeholders it uses in the order the parser met them and, when the text is invalid, the error the parser stopped
/// with. Binding it to a request raises that error first (DynamoDB reads the whole text before it looks a placeholder
/// up), else looks the placeholders up in that order (an undefined one fails there, and each one is marked used), so a
/// reused expression fails exactly as a fresh parse of it does.
/// </summary>
internal abstract class ParsedExpression
{
    private (bool IsName, string Token)[] _uses = [];
    private int _nameCount;
    private int _valueCount;
    private string? _error;
    private PathTemplate[] _paths = [];
    private ExpressionBinding? _fixed; // when no placeholder is used
    private DocumentPath[]? _fixedPaths; // when no #name placeholder is used: only values differ between requests

    protected ExpressionBinding Bind(ExpressionContext context)
    {
        // An expression that does not parse is refused before any placeholder is looked up, as DynamoDB does: it
        // parses the whole text first (a name used before a syntax error is not reported, the syntax error is).
        if (_error is not null)
        {
            throw DynamoError.Validation(_error);
        }

        string[] names = _nameCount == 0 ? [] : new string[_nameCount];
        DynamoValue[] values = _valueCount == 0 ? [] : new DynamoValue[_valueCount];
        int n = 0, v = 0;
        foreach ((bool isName, string token) in _uses)
        {
            if (isName)
            {
                names[n++] = context.Name(token);
            }
            else
            {
                values[v++] = context.Value(token);
            }
        }

        if (_fixed is not null)
        {
            return _fixed;
        }

        if (_fixedPaths is not null)
        {
            return new ExpressionBinding(values, _fixedPaths);
        }

        var paths = new DocumentPath[_paths.Length];
        for (int i = 0; i < paths.Length; i++)
        {
            paths[i] = _paths[i].Bind(names);
        }

        return new ExpressionBinding(values, paths);
    }

    /// <summary>Records what the parser found: the placeholders used (in order), the paths, the error it stopped with.</summary>
    internal void Complete(List<(bool IsName, string Token)> uses, List<PathTemplate> paths, string? error)
    {
        _uses = [.. uses];
        _nameCount = uses.Count(u => u.IsName);
        _valueCount = uses.Count - _nameCount;
        _paths = [.. paths];
        _error = error;
        if (error is null && uses.Count == 0)
        {
            _fixed = Bind(null!); // nothing to look up: the context is not read
        }
        else if (error is null && _nameCount == 0)
        {
            _fixedPaths = [.. paths.Select(p => p.Bind([]))];
        }
    }
}

/// <summary>A parsed condition, key condition or filter expression.</summary>
internal sealed class ParsedCondition : ParsedExpression
{
    private DynamoExpressionParser.Condition? _fixedCondition;

    internal DynamoExpressionParser.BoundCondition Evaluate { get; set; } = null!;

    /// <summary>Whether the text parsed (else binding raises its error).</summary>
    internal bool Parsed { get; set; }

    /// <summary>What the request's values must be for the functions and operators that take them, in the text's order.</summary>
    internal DynamoExpressionParser.ValueCheck[] Checks { get; set; } = [];

    public DynamoExpressionParser.Condition Bind(ExpressionContext context, string kind)
    {
        context.Kind = kind;
        ExpressionBinding binding = Bind(context);
        foreach (DynamoExpressionParser.ValueCheck check in Checks)
        {
            check.Apply(binding.Values, kind);
        }

        if (_fixedCondition is not null)
        {
            return _fixedCondition;
        }

        DynamoExpressionParser.BoundCondition evaluate = Evaluate;
        return item => evaluate(item, binding);
    }

    internal void Fix(bool usesPlaceholders)
    {
        if (!usesPlaceholders)
        {
            ExpressionBinding binding = Bind(null!);
            DynamoExpressionParser.BoundCondition evaluate = Evaluate;
            _fixedCondition = item => evaluate(item, binding);
        }
    }
}

/// <summary>A parsed projection expression: document paths apart by commas.</summary>
internal sealed class ParsedProjection : ParsedExpression
{
    internal List<int> PathSlots { get; } = [];

    /// <summary>The paths, names resolved; refuses two that overlap or conflict, as the service does.</summary>
    public List<DocumentPath> BindPaths(ExpressionContext context)
    {
        context.Kind = "ProjectionExpression";
        ExpressionBinding binding = Bind(context);
        List<DocumentPath> paths = [.. PathSlots.Select(p => binding.Paths[p])];
        DynamoExpressionParser.CheckApart(paths, "ProjectionExpression");
        return paths;
    }
}

/// <summary>A parsed update expression.</summary>
internal sealed class ParsedUpdate : ParsedExpression
{
    internal List<(int Path, DynamoExpressionParser.BoundStep Step)> Steps { get; } = [];

    /// <summary>The ADD and DELETE actions' value slots, in the text's order: their types are checked before the item is read.</summary>
    internal List<(string Operator, int Value)> SetOperands { get; } = [];

    /// <summary>The functions' value checks, in the order their calls end in the text (after the ADD and DELETE operands).</summary>
    internal DynamoExpressionParser.ValueCheck[] Checks { get; set; } = [];

    public Action<Dictionary<string, DynamoValue>> Bind(ExpressionContext context, out List<DocumentPath> updatedPaths)
    {
        context.Kind = "UpdateExpression";
        ExpressionBinding binding = Bind(context);
        var paths = new List<DocumentPath>(Steps.Count);
        foreach ((int path, _) in Steps)
        {
            paths.Add(binding.Paths[path]);
        }

        DynamoExpressionParser.CheckApart(paths, "UpdateExpression");

        // Then the operand types the request fixes, the first one wrong: ADD takes a number or a set, DELETE a set.
        foreach ((string op, int value) in SetOperands)
        {
            DynamoType type = binding.Values[value].Type;
            if (!(type is DynamoType.SS or DynamoType.NS or DynamoType.BS || (op == "ADD" && type == DynamoType.N)))
            {
                throw DynamoError.Validation($"Invalid UpdateExpression: Incorrect operand type for operator or function; operator: {op}, operand type: {DynamoExpressionParser.Describe(type)}");
            }
        }

        foreach (DynamoExpressionParser.ValueCheck check in Checks)
        {
            check.Apply(binding.Values, "UpdateExpression");
        }

        updatedPaths = paths;
        List<(int Path, DynamoExpressionParser.BoundStep Step)> steps = Steps;
        return item =>
        {
            // Every SET operand is the item's value before the update, as in DynamoDB ("SET a = b, b = a" swaps them;
            // "REMOVE l[0] SET m = l" copies the whole list). Nested values are replaced, never changed, so a copy of
            // the top level keeps the whole item as it was.
            var original = new Dictionary<string, DynamoValue>(item, StringComparer.Ordinal);
            foreach ((int path, DynamoExpressionParser.BoundStep step) in steps)
            {
                step(item, original, binding.Paths[path], binding);
            }
        };
    }
}

/// <summary>
/// The parsed expressions a model has met, by kind and text, so a request whose expression was seen before skips the
/// parse (placeholders are read from each request when the expression is bound). Bounded: when full it starts over,
/// so any number of distinct expressions costs at most a parse each, as without it. Safe for concurrent use.
/// </summary>
internal sealed class ExpressionCache
{
    /// <summary>How many expressions are kept.</summary>
    public const int Capacity = 1024;

    /// <summary>Longer texts are parsed each time (DynamoDB allows 4 KB; nothing long is worth keeping).</summary>
    public const int MaxTextLength = 4096;

    private readonly Dictionary<(string Kind, string Text), ParsedExpression> _entries = [];
    private readonly object _lock = new();

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    public ParsedExpression GetOrAdd(string kind, string text, Func<string, string, ParsedExpression> parse)
    {
        if (text.Length > MaxTextLength)
        {
            return parse(text, kind);
        }

        lock (_lock)
        {
            if (_entries.TryGetValue((kind, text), out ParsedExpression? found))
            {
                return found;
            }
        }

        ParsedExpression parsed = parse(text, kind); // outside the lock: parsing does not read the request
        lock (_lock)
        {
            if (_entries.Count >= Capacity)
            {
                _entries.Clear();
            }

            _entries[(kind, text)] = parsed;
        }

        return parsed;
    }
}

/// <summary>Parses and evaluates condition, key condition, filter and update expressions (the subset in docs/).</summary>
internal sealed class DynamoExpressionParser
{
    private readonly List<string> _tokens;
    private readonly string _kind;
    private readonly string _text;
    private readonly List<(bool IsName, string Token)> _uses = [];
    private readonly List<ValueCheck> _valueChecks = [];

    // Errors DynamoDB finds while it reads a text that parses, reported once the whole text is read, by kind in its
    // order (a syntax error anywhere comes first: it stops the parse): the first of each kind.
    private readonly Dictionary<string, string> _deferred = new(StringComparer.Ordinal);

    // The last parenthesized condition's opening and closing token positions.
    private (int Open, int Close) _lastParentheses = (-1, -1);

    private static readonly string[] s_conditionErrorOrder = ["parens", "unknownFunction", "reserved"];
    private static readonly string[] s_updateErrorOrder = ["reserved", "unknownFunction", "section"];
    private readonly List<PathTemplate> _paths = [];
    private int _position;

    private DynamoExpressionParser(string text, string kind)
    {
        _text = text;
        _kind = kind;
        _tokens = Tokenize(text, kind);
    }

    public delegate bool Condition(IReadOnlyDictionary<string, DynamoValue> item);

    internal delegate bool BoundCondition(IReadOnlyDictionary<string, DynamoValue> item, ExpressionBinding binding);

    /// <summary>One action of an update: writes <c>item</c>; a SET reads its operands from <c>original</c>, the item before the update.</summary>
    internal delegate void BoundStep(Dictionary<string, DynamoValue> item, IReadOnlyDictionary<string, DynamoValue> original, DocumentPath path, ExpressionBinding binding);

    private delegate DynamoValue? Operand(IReadOnlyDictionary<string, DynamoValue> item, ExpressionBinding binding);

    public static Condition ParseCondition(string text, ExpressionContext context, string kind, ExpressionCache? cache = null)
    {
        var parsed = (ParsedCondition)(cache?.GetOrAdd(kind, text, CompileCondition) ?? CompileCondition(text, kind));
        return parsed.Bind(context, kind);
    }

    /// <summary>Parses an update expression into an action that rewrites a copy of the item.</summary>
    public static Action<Dictionary<string, DynamoValue>> ParseUpdate(string text, ExpressionContext context, out List<DocumentPath> updatedPaths, ExpressionCache? cache = null)
    {
        var parsed = (ParsedUpdate)(cache?.GetOrAdd("UpdateExpression", text, CompileUpdate) ?? CompileUpdate(text, "UpdateExpression"));
        return parsed.Bind(context, out updatedPaths);
    }

    /// <summary>
    /// Parses a projection expression into its document paths (names resolved). Nested paths project as DynamoDB
    /// projects them (<see cref="Project"/>).
    /// </summary>
    public static List<DocumentPath> ParseProjection(string text, ExpressionContext context, ExpressionCache? cache = null)
    {
        var parsed = (ParsedProjection)(cache?.GetOrAdd("ProjectionExpression", text, CompileProjection) ?? CompileProjection(text, "ProjectionExpression"));
        return parsed.BindPaths(context);
    }

    /// <summary>
    /// As DynamoDB checks the paths of an update or a projection: each against those before it; an overlap (one a
    /// prefix of the other) stops the check and wins; otherwise the last conflict (a name and an index at the same
    /// level) is reported.
    /// </summary>
    internal static void CheckApart(List<DocumentPath> paths, string kind)
    {
        string? conflict = null;
        for (int i = 0; i < paths.Count; i++)
        {
            for (int j = 0; j < i; j++)
            {
                switch (Compare(paths[j], paths[i]))
                {
                    case PathRelation.Overlap:
                        throw DynamoError.Validation($"Invalid {kind}: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: {paths[j].Pieces()}, path two: {paths[i].Pieces()}");
                    case PathRelation.Conflict:
                        conflict = $"Invalid {kind}: Two document paths conflict with each other; must remove or rewrite one of these paths; path one: {paths[j].Pieces()}, path two: {paths[i].Pieces()}";
                        break;
                }
            }
        }

        if (conflict is not null)
        {
            throw DynamoError.Validation(conflict);
        }
    }

    /// <summary>
    /// The parts of <paramref name="item"/> at <paramref name="paths"/>, each within its parents as DynamoDB returns
    /// them for a projection or for UPDATED_OLD and UPDATED_NEW: a map keeps only the names asked for, a list only the
    /// elements asked for, in index order and closed up; what is missing or of another kind than the path expects is
    /// left out. The paths neither overlap nor conflict.
    /// </summary>
    public static Dictionary<string, DynamoValue> Project(IReadOnlyDictionary<string, DynamoValue> item, IEnumerable<DocumentPath> paths)
    {
        var tree = new ProjectionNode();
        foreach (DocumentPath path in paths)
        {
            ProjectionNode node = tree;
            foreach (object segment in path.Segments)
            {
                node = node.Child(segment);
            }

            node.Whole = true;
        }

        var result = new Dictionary<string, DynamoValue>(StringComparer.Ordinal);
        foreach ((object segment, ProjectionNode child) in tree.Children!)
        {
            if (item.TryGetValue((string)segment, out DynamoValue? value) && child.Take(value) is { } taken)
            {
                result[(string)segment] = taken;
            }
        }

        return result;
    }

    /// <summary>A level of the paths a projection asks for: the whole value, or some names or indexes below it.</summary>
    private sealed class ProjectionNode
    {
        public bool Whole { get; set; }

        public SortedDictionary<object, ProjectionNode>? Children { get; private set; }

        public ProjectionNode Child(object segment)
        {
            Children ??= new SortedDictionary<object, ProjectionNode>(Comparer<object>.Create(static (a, b) => (a, b) switch
            {
                (int x, int y) => x.CompareTo(y),
                (string x, string y) => string.CompareOrdinal(x, y),
                _ => a is int ? -1 : 1,
            }));
            if (!Children.TryGetValue(segment, out ProjectionNode? child))
            {
                child = new ProjectionNode();
                Children[segment] = child;
            }

            return child;
        }

        public DynamoValue? Take(DynamoValue value)
        {
            if (Whole || Children is null)
            {
                return value;
            }

            if (value.Type == DynamoType.M)
            {
                var map = new Dictionary<string, DynamoValue>(StringComparer.Ordinal);
                foreach ((object segment, ProjectionNode child) in Children)
                {
                    if (segment is string name && value.Map!.TryGetValue(name, out DynamoValue? inner) && child.Take(inner) is { } taken)
                    {
                        map[name] = taken;
                    }
                }

                return map.Count == 0 ? null : DynamoValue.FromMap(map);
            }

            if (value.Type == DynamoType.L)
            {
                var list = new List<DynamoValue>();
                foreach ((object segment, ProjectionNode child) in Children)
                {
                    if (segment is int index && index < value.List!.Count && child.Take(value.List[index]) is { } taken)
                    {
                        list.Add(taken);
                    }
                }

                return list.Count == 0 ? null : DynamoValue.FromList(list);
            }

            return null;
        }
    }

    private static ParsedProjection CompileProjection(string text, string kind) => Compile<ParsedProjection>(text, kind, static (parser, parsed) =>
    {
        if (parser.AtEnd)
        {
            throw DynamoError.Validation("Invalid ProjectionExpression: The expression can not be empty;");
        }

        do
        {
            parsed.PathSlots.Add(parser.ParsePath());
        }
        while (parser.TryTake(","));
        parser.ExpectEnd();
        parser.ThrowDeferred(s_conditionErrorOrder);
    });

    private static ParsedCondition CompileCondition(string text, string kind)
    {
        bool usesPlaceholders = false;
        ParsedCondition parsed = Compile<ParsedCondition>(text, kind, (parser, condition) =>
        {
            condition.Evaluate = parser.ParseOr();
            parser.ExpectEnd();
            parser.ThrowDeferred(s_conditionErrorOrder);
            condition.Checks = [.. parser._valueChecks];
            condition.Parsed = true;
            usesPlaceholders = parser._uses.Count > 0;
        });
        if (parsed.Parsed)
        {
            parsed.Fix(usesPlaceholders);
        }

        return parsed;
    }

    private static ParsedUpdate CompileUpdate(string text, string kind) => Compile<ParsedUpdate>(text, kind, static (parser, parsed) =>
    {
        parser.ParseUpdateClauses(parsed.Steps, parsed.SetOperands);
        parser.ThrowDeferred(s_updateErrorOrder);
        parsed.Checks = [.. parser._valueChecks];
    });

    /// <summary>
    /// Parses <paramref name="text"/> with <paramref name="parse"/>; a text the service refuses is kept as the error a
    /// bind raises (<see cref="ParsedExpression"/>), with the placeholders the parser met before it.
    /// </summary>
    private static T Compile<T>(string text, string kind, Action<DynamoExpressionParser, T> parse)
        where T : ParsedExpression, new()
    {
        var parsed = new T();
        DynamoExpressionParser? parser = null;
        string? error = null;
        try
        {
            parser = new DynamoExpressionParser(text, kind);
            parse(parser, parsed);
        }
        catch (DynamoError e) when (IsValidation(e))
        {
            error = e.Message;
        }

        parsed.Complete(parser?._uses ?? [], parser?._paths ?? [], error);
        return parsed;
    }

    private static bool IsValidation(DynamoError e) => e.Type == "com.amazon.coral.validate#ValidationException" && e.Status == 400;

    private void ParseUpdateClauses(List<(int Path, BoundStep Step)> steps, List<(string Operator, int Value)> setOperands)
    {
        var seenClauses = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        while (!AtEnd)
        {
            string clause = Next().ToUpperInvariant();
            if (!seenClauses.Add(clause))
            {
                Defer("section", "The \"" + clause + "\" section can only be used once in an update expression;");
            }

            do
            {
                int path = ParsePath();
                switch (clause)
                {
                    case "SET":
                        Expect("=");
                        Operand value = ParseSetValue();
                        steps.Add((path, (item, original, p, b) => SetPath(item, p, value(original, b) ?? throw DynamoError.Validation("The provided expression refers to an attribute that does not exist in the item"))));
                        break;
                    case "REMOVE":
                        steps.Add((path, (item, _, p, _) => RemovePath(item, p)));
                        break;
                    case "ADD":
                        int add = ParseValueRef();
                        setOperands.Add(("ADD", add));
                        steps.Add((path, (item, _, p, b) => SetPath(item, p, Add(p.Resolve(item), b.Values[add]))));
                        break;
                    case "DELETE":
                        int delete = ParseValueRef();
                        setOperands.Add(("DELETE", delete));
                        steps.Add((path, (item, _, p, b) => DeleteAt(item, p, b.Values[delete])));
                        break;
                    default:
                        throw Syntax("Syntax error; token: \"" + clause + "\"");
                }
            }
            while (TryTake(","));
        }

        if (steps.Count == 0)
        {
            throw DynamoError.Validation("Invalid UpdateExpression: The expression can not be empty;");
        }
    }

    private static void DeleteAt(Dictionary<string, DynamoValue> item, DocumentPath path, DynamoValue delete)
    {
        CheckParents(item, path);
        DynamoValue? existing = path.Resolve(item);
        if (existing is null)
        {
            return;
        }

        DynamoValue? left = Delete(existing, delete);
        if (left is null)
        {
            RemovePath(item, path);
        }
        else
        {
            SetPath(item, path, left);
        }
    }

    private bool AtEnd => _position >= _tokens.Count;

    internal static bool Overlaps(DocumentPath a, DocumentPath b) => Compare(a, b) == PathRelation.Overlap;

    /// <summary>
    /// How two paths of one update relate: one a prefix of the other (overlap), a name and an index at the first
    /// level where they differ (conflict), or apart.
    /// </summary>
    internal static PathRelation Compare(DocumentPath a, DocumentPath b)
    {
        int n = Math.Min(a.Segments.Count, b.Segments.Count);
        for (int i = 0; i < n; i++)
        {
            if ((a.Segments[i] is int) != (b.Segments[i] is int))
            {
                return PathRelation.Conflict;
            }

            if (!a.Segments[i].Equals(b.Segments[i]))
            {
                return PathRelation.Apart;
            }
        }

        return PathRelation.Overlap;
    }

    private static DynamoValue Add(DynamoValue? existing, DynamoValue add)
    {
        if (add.Type == DynamoType.N)
        {
            if (existing is null)
            {
                return add;
            }

            if (existing.Type != DynamoType.N)
            {
                throw DynamoError.Validation("An operand in the update expression has an incorrect data type");
            }

            return DynamoValue.FromNumber(DynamoNumber.Add(existing.Number, add.Number));
        }

        if (add.Type is DynamoType.SS or DynamoType.NS or DynamoType.BS)
        {
            if (existing is null)
            {
                return add;
            }

            if (existing.Type != add.Type)
            {
                throw DynamoError.Validation("An operand in the update expression has an incorrect data type");
            }

            var members = existing.Set!.ToList();
            members.AddRange(add.Set!.Where(m => !members.Contains(m)));
            return DynamoValue.FromSet(add.Type, members);
        }

        throw DynamoError.Validation("Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: " + Describe(add.Type));
    }

    private static DynamoValue? Delete(DynamoValue existing, DynamoValue delete)
    {
        if (delete.Type is not (DynamoType.SS or DynamoType.NS or DynamoType.BS))
        {
            throw DynamoError.Validation("Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, operand type: " + Describe(delete.Type));
        }

        if (existing.Type != delete.Type)
        {
            throw DynamoError.Validation("An operand in the update expression has an incorrect data type");
        }

        var left = existing.Set!.Where(m => !delete.Set!.Contains(m)).ToList();
        return left.Count == 0 ? null : DynamoValue.FromSet(existing.Type, left);
    }

    internal static string Describe(DynamoType type) => type switch
    {
        DynamoType.S => "STRING",
        DynamoType.N => "NUMBER",
        DynamoType.B => "BINARY",
        DynamoType.BOOL => "BOOLEAN",
        DynamoType.NULL => "NULL",
        DynamoType.M => "MAP",
        DynamoType.L => "LIST",
        _ => type.ToString(),
    };

    /// <summary>Sets a value at a path; a nested path needs its parent map or list to exist, as in DynamoDB.</summary>
    private static void SetPath(Dictionary<string, DynamoValue> item, DocumentPath path, DynamoValue value)
    {
        if (path.Segments.Count == 1)
        {
            item[path.Head] = value;
            return;
        }

        if (!item.TryGetValue(path.Head, out DynamoValue? root))
        {
            throw DynamoError.Validation("The document path provided in the update expression is invalid for update");
        }

        item[path.Head] = SetNested(root, path.Segments, 1, value);
    }

    private static DynamoValue SetNested(DynamoValue container, IReadOnlyList<object> segments, int index, DynamoValue value)
    {
        bool last = index == segments.Count - 1;
        switch (segments[index])
        {
            case string name when container.Type == DynamoType.M:
                {
                    var map = new Dictionary<string, DynamoValue>(container.Map!, StringComparer.Ordinal);
                    if (last)
                    {
                        map[name] = value;
                    }
                    else if (map.TryGetValue(name, out DynamoValue? child))
                    {
                        map[name] = SetNested(child, segments, index + 1, value);
                    }
                    else
                    {
                        throw DynamoError.Validation("The document path provided in the update expression is invalid for update");
                    }

                    return DynamoValue.FromMap(map);
                }

            case int i when container.Type == DynamoType.L:
                {
                    var list = container.List!.ToList();
                    if (last)
                    {
                        if (i >= list.Count)
                        {
                            list.Add(value);
                        }
                        else
                        {
                            list[i] = value;
                        }
                    }
                    else if (i < list.Count)
                    {
                        list[i] = SetNested(list[i], segments, index + 1, value);
                    }
                    else
                    {
                        throw DynamoError.Validation("The document path provided in the update expression is invalid for update");
                    }

                    return DynamoValue.FromList(list);
                }

            default:
                throw DynamoError.Validation("The document path provided in the update expression is invalid for update");
        }
    }

    /// <summary>
    /// Refuses a REMOVE or DELETE whose path runs through an attribute that is missing or is not the container the path
    /// names (a map for a name, a list for an index), as the service does; only the last element may be missing (found
    /// by review: the model did nothing, and REMOVE l[0] on a missing item created it).
    /// </summary>
    private static void CheckParents(Dictionary<string, DynamoValue> item, DocumentPath path)
    {
        if (path.Segments.Count == 1)
        {
            return;
        }

        DynamoValue? current = item.GetValueOrDefault(path.Head);
        for (int i = 1; i < path.Segments.Count; i++)
        {
            bool last = i == path.Segments.Count - 1;
            current = (path.Segments[i], current) switch
            {
                (string name, { Type: DynamoType.M } map) => last ? map : map.Map!.GetValueOrDefault(name),
                (int index, { Type: DynamoType.L } list) => last ? list : index < list.List!.Count ? list.List[index] : null,
                _ => null,
            };
            if (current is null)
            {
                throw DynamoError.Validation("The document path provided in the update expression is invalid for update");
            }
        }
    }

    private static void RemovePath(Dictionary<string, DynamoValue> item, DocumentPath path)
    {
        if (path.Segments.Count == 1)
        {
            item.Remove(path.Head);
            return;
        }

        CheckParents(item, path);

        if (item.TryGetValue(path.Head, out DynamoValue? root) && RemoveNested(root, path.Segments, 1) is { } changed)
        {
            item[path.Head] = changed;
        }
    }

    private static DynamoValue? RemoveNested(DynamoValue container, IReadOnlyList<object> segments, int index)
    {
        bool last = index == segments.Count - 1;
        switch (segments[index])
        {
            case string name when container.Type == DynamoType.M && container.Map!.TryGetValue(name, out DynamoValue? child):
                {
                    var map = new Dictionary<string, DynamoValue>(container.Map, StringComparer.Ordinal);
                    if (last)
                    {
                        map.Remove(name);
                    }
                    else if (RemoveNested(child, segments, index + 1) is { } changed)
                    {
                        map[name] = changed;
                    }

                    return DynamoValue.FromMap(map);
                }

            case int i when container.Type == DynamoType.L && i < container.List!.Count:
                {
                    var list = container.List.ToList();
                    if (last)
                    {
                        list.RemoveAt(i);
                    }
                    else if (RemoveNested(list[i], segments, index + 1) is { } changed)
                    {
                        list[i] = changed;
                    }

                    return DynamoValue.FromList(list);
                }

            default:
                return null;
        }
    }

    internal static List<string> Tokenize(string text, string kind)
    {
        var tokens = new List<string>();
        int i = 0;
        while (i < text.Length)
        {
            char c = text[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }

            int start = i;
            if (c is '#' or ':' || char.IsLetterOrDigit(c) || c == '_')
            {
                i++;
                while (i < text.Length && (char.IsLetterOrDigit(text[i]) || text[i] == '_'))
                {
                    i++;
                }
            }
            else if ((c is '<' && i + 1 < text.Length && text[i + 1] is '=' or '>') || (c is '>' && i + 1 < text.Length && text[i + 1] == '='))
            {
                i += 2;
            }
            else if (c is '(' or ')' or '[' or ']' or '.' or ',' or '=' or '<' or '>' or '+' or '-')
            {
                i++;
            }
            else
            {
                throw DynamoError.Validation($"Invalid {kind}: Syntax error; token: \"{c}\", near: \"{text.Substring(Math.Max(0, i - 8), Math.Min(text.Length, i + 8) - Math.Max(0, i - 8))}\"");
            }

            tokens.Add(text[start..i]);
        }

        return tokens;
    }

    private DynamoError Syntax(string message) => DynamoError.Validation($"Invalid {_kind}: {message}");

    private void Defer(string kind, string message) => _deferred.TryAdd(kind, message);

    private void ThrowDeferred(string[] order)
    {
        foreach (string kind in order)
        {
            if (_deferred.TryGetValue(kind, out string? message))
            {
                throw Syntax(message);
            }
        }
    }

    /// <summary>
    /// A call of a function DynamoDB does not have, <c>name(operand, ...)</c>: read whole, so that a syntax error after it
    /// is still the one reported, else "Invalid function name". Answers nothing (the expression is refused).
    /// </summary>
    private void ParseUnknownFunction()
    {
        string name = Next();
        Expect("(");
        if (!TryTake(")"))
        {
            do
            {
                _ = ParseOperand();
            }
            while (TryTake(","));
            Expect(")");
        }

        Defer("unknownFunction", "Invalid function name; function: " + name);
    }

    private bool AtUnknownFunction(params string[] known)
    {
        string head = Peek();
        return _position + 1 < _tokens.Count && _tokens[_position + 1] == "(" && head.Length > 0 && (char.IsLetter(head[0]) || head[0] == '_')
            && !known.Any(k => head.Equals(k, StringComparison.Ordinal));
    }

    private string Peek() => _position < _tokens.Count ? _tokens[_position] : string.Empty;

    private string Next()
    {
        if (AtEnd)
        {
            throw Syntax("Syntax error; token: <EOF>, near: \"" + (_text.Length > 16 ? _text[^16..] : _text) + "\"");
        }

        return _tokens[_position++];
    }

    private bool TryTake(string token)
    {
        if (!AtEnd && string.Equals(_tokens[_position], token, StringComparison.OrdinalIgnoreCase))
        {
            _position++;
            return true;
        }

        return false;
    }

    private void Expect(string token)
    {
        string got = Next();
        if (!string.Equals(got, token, StringComparison.OrdinalIgnoreCase))
        {
            throw Syntax("Syntax error; token: \"" + got + "\", expected: \"" + token + "\"");
        }
    }

    private void ExpectEnd()
    {
        if (!AtEnd)
        {
            throw Syntax("Syntax error; token: \"" + Peek() + "\"");
        }
    }

    private BoundCondition ParseOr()
    {
        BoundCondition left = ParseAnd();
        while (TryTake("OR"))
        {
            BoundCondition l = left, r = ParseAnd();
            left = (item, b) => l(item, b) || r(item, b);
        }

        return left;
    }

    private BoundCondition ParseAnd()
    {
        BoundCondition left = ParseNot();
        while (TryTake("AND"))
        {
            BoundCondition l = left, r = ParseNot();
            left = (item, b) => l(item, b) && r(item, b);
        }

        return left;
    }

    private BoundCondition ParseNot()
    {
        if (TryTake("NOT"))
        {
            BoundCondition inner = ParseNot();
            return (item, b) => !inner(item, b);
        }

        return ParsePrimary();
    }

    private BoundCondition ParsePrimary()
    {
        if (TryTake("("))
        {
            int open = _position - 1;
            BoundCondition inner = ParseOr();
            int close = _position;
            Expect(")");
            if (_lastParentheses == (open + 1, close - 1))
            {
                Defer("parens", "The expression has redundant parentheses;"); // ((condition))
            }

            _lastParentheses = (open, close);
            return inner;
        }

        if (AtUnknownFunction("attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains", "size"))
        {
            ParseUnknownFunction();
            if (Peek() is "=" or "<>" or "<" or "<=" or ">" or ">=")
            {
                Next();
                _ = ParseOperand();
            }

            return static (_, _) => false;
        }

        string head = Peek();
        if (_position + 1 < _tokens.Count && _tokens[_position + 1] == "(")
        {
            switch (head)
            {
                case "attribute_exists":
                case "attribute_not_exists":
                    {
                        Next();
                        Expect("(");
                        int path = ParsePath();
                        Expect(")");
                        bool exists = head.Equals("attribute_exists", StringComparison.Ordinal);
                        return (item, b) => (b.Paths[path].Resolve(item) is not null) == exists;
                    }

                case "attribute_type":
                    {
                        Next();
                        Expect("(");
                        int path = ParsePath();
                        Expect(",");
                        int typeSlot = ParseValueRef();
                        Expect(")");
                        _valueChecks.Add(new ValueCheck("attribute_type", typeSlot, -1));
                        return (item, b) => b.Paths[path].Resolve(item) is { } v && b.Values[typeSlot] is var type && type.Type == DynamoType.S && v.Type.ToString() == type.Text;
                    }

                case "begins_with":
                    {
                        Next();
                        Expect("(");
                        int aSlot = ValueSlotAhead();
                        (Operand a, string? aPath) = ParseNotedOperand();
                        Expect(",");
                        int cSlot = ValueSlotAhead();
                        (Operand c, string? cPath) = ParseNotedOperand();
                        Expect(")");
                        Distinct("begins_with", aPath, cPath);
                        _valueChecks.Add(new ValueCheck("begins_with", aSlot, cSlot));
                        return (item, b) => a(item, b) is { } x && c(item, b) is { } y && x.Type == y.Type &&
                            (x.Type == DynamoType.S ? x.Text!.StartsWith(y.Text!, StringComparison.Ordinal) : x.Type == DynamoType.B && x.Bytes!.AsSpan().StartsWith(y.Bytes));
                    }

                case "contains":
                    {
                        Next();
                        Expect("(");
                        (Operand a, string? aPath) = ParseNotedOperand();
                        Expect(",");
                        (Operand c, string? cPath) = ParseNotedOperand();
                        Expect(")");
                        Distinct("contains", aPath, cPath);
                        return (item, b) => a(item, b) is { } x && c(item, b) is { } y && Contains(x, y);
                    }
            }
        }

        (Operand left, string? leftPath) = ParseNotedOperand();
        if (TryTake("BETWEEN"))
        {
            int lowSlot = ValueSlotAhead();
            (Operand low, string? lowPath) = ParseNotedOperand();
            Expect("AND");
            int highSlot = ValueSlotAhead();
            (Operand high, string? highPath) = ParseNotedOperand();
            _ = (lowPath, highPath); // BETWEEN and IN take a repeated path (the local server checks only comparisons and functions)
            if (lowSlot >= 0 && highSlot >= 0)
            {
                _valueChecks.Add(new ValueCheck("BETWEEN", lowSlot, highSlot));
            }

            return (item, b) => left(item, b) is { } v && low(item, b) is { } lo && high(item, b) is { } hi &&
                DynamoValue.CompareScalars(v, lo) >= 0 && DynamoValue.CompareScalars(v, hi) <= 0;
        }

        if (TryTake("IN"))
        {
            Expect("(");
            var options = new List<Operand>();
            var optionPaths = new List<string?>();
            do
            {
                (Operand option, string? optionPath) = ParseNotedOperand();
                options.Add(option);
                optionPaths.Add(optionPath);
            }
            while (TryTake(","));
            Expect(")");
            return (item, b) => left(item, b) is { } v && options.Any(o => v.Equals(o(item, b)));
        }

        string op = Next();
        (Operand right, string? rightPath) = ParseNotedOperand();
        if (op is "=" or "<>" or "<" or "<=" or ">" or ">=")
        {
            Distinct(op, leftPath, rightPath);
        }

        return op switch
        {
            "=" => (item, b) => left(item, b) is { } a && a.Equals(right(item, b)),
            "<>" => (item, b) => !(left(item, b) is { } a && a.Equals(right(item, b))),
            "<" => (item, b) => Compare(left(item, b), right(item, b)) is < 0,
            "<=" => (item, b) => Compare(left(item, b), right(item, b)) is <= 0,
            ">" => (item, b) => Compare(left(item, b), right(item, b)) is > 0,
            ">=" => (item, b) => Compare(left(item, b), right(item, b)) is >= 0,
            _ => throw Syntax("Syntax error; token: \"" + op + "\""),
        };
    }

    /// <summary>An operand, and its path as the service's messages list it (<c>[a, b, [0]]</c>) when it is a path written out (no placeholder name).</summary>
    private (Operand Operand, string? Path) ParseNotedOperand()
    {
        int start = _position;
        Operand operand = ParseOperand();
        string[] tokens = [.. _tokens.Skip(start).Take(_position - start)];
        if (tokens.Length == 0 || tokens.Any(t => t.StartsWith(':') || t.StartsWith('#') || t == "("))
        {
            return (operand, null);
        }

        var pieces = new List<string>();
        for (int i = 0; i < tokens.Length; i++)
        {
            if (tokens[i] == "[" && i + 2 < tokens.Length)
            {
                pieces.Add("[" + tokens[i + 1] + "]");
                i += 2;
            }
            else if (tokens[i] != ".")
            {
                pieces.Add(tokens[i]);
            }
        }

        return (operand, "[" + string.Join(", ", pieces) + "]");
    }

    /// <summary>
    /// Refuses a path that is both the first operand and another one, as the service does (found by review: the model
    /// evaluated <c>n = n</c> and <c>contains(ss, ss)</c>).
    /// </summary>
    private void Distinct(string op, string? first, params string?[] others)
    {
        if (first is not null && others.Contains(first))
        {
            throw DynamoError.Validation($"Invalid {_kind}: The first operand must be distinct from the remaining operands for this operator or function; operator: {op}, first operand: {first}");
        }
    }

    private static int? Compare(DynamoValue? a, DynamoValue? b) => a is null || b is null ? null : DynamoValue.CompareScalars(a, b);

    private static bool Contains(DynamoValue x, DynamoValue y) => x.Type switch
    {
        DynamoType.S => y.Type == DynamoType.S && x.Text!.Contains(y.Text!, StringComparison.Ordinal),
        DynamoType.B => y.Type == DynamoType.B && x.Bytes!.AsSpan().IndexOf(y.Bytes) >= 0,
        DynamoType.SS or DynamoType.NS or DynamoType.BS => x.Set!.Contains(y),
        DynamoType.L => x.List!.Contains(y),
        _ => false,
    };

    private Operand ParseOperand()
    {
        string head = Peek();
        if (AtUnknownFunction("size", "if_not_exists", "list_append", "attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains"))
        {
            ParseUnknownFunction();
            return static (_, _) => null;
        }

        if (head.StartsWith(':'))
        {
            int slot = ParseValueRef();
            return (_, b) => b.Values[slot];
        }

        if (head.Equals("size", StringComparison.Ordinal) && _position + 1 < _tokens.Count && _tokens[_position + 1] == "(")
        {
            Next();
            Expect("(");
            int path = ParsePath();
            Expect(")");
            return (item, b) => b.Paths[path].Resolve(item) is { } v ? DynamoValue.FromNumber(DynamoNumber.Parse(SizeOf(v).ToString(CultureInfo.InvariantCulture))) : null;
        }

        int p = ParsePath();
        return (item, b) => b.Paths[p].Resolve(item);
    }

    private static int SizeOf(DynamoValue v) => v.Type switch
    {
        DynamoType.S => System.Text.Encoding.UTF8.GetByteCount(v.Text!),
        DynamoType.B => v.Bytes!.Length,
        DynamoType.M => v.Map!.Count,
        DynamoType.L => v.List!.Count,
        DynamoType.SS or DynamoType.NS or DynamoType.BS => v.Set!.Count,
        _ => 0,
    };

    private Operand ParseSetValue()
    {
        int firstSlot = ValueSlotAhead();
        Operand first = ParseSetOperand();
        if (TryTake("+"))
        {
            int secondSlot = ValueSlotAhead();
            Operand second = ParseSetOperand();
            _valueChecks.Add(new ValueCheck("+", firstSlot, secondSlot));
            return (item, b) => Arithmetic(first(item, b), second(item, b), negate: false);
        }

        if (TryTake("-"))
        {
            int secondSlot = ValueSlotAhead();
            Operand second = ParseSetOperand();
            _valueChecks.Add(new ValueCheck("-", firstSlot, secondSlot));
            return (item, b) => Arithmetic(first(item, b), second(item, b), negate: true);
        }

        return first;
    }

    private static DynamoValue Arithmetic(DynamoValue? a, DynamoValue? b, bool negate)
    {
        if (a is null || b is null)
        {
            throw DynamoError.Validation("The provided expression refers to an attribute that does not exist in the item");
        }

        if (a.Type != DynamoType.N || b.Type != DynamoType.N)
        {
            throw DynamoError.Validation("An operand in the update expression has an incorrect data type");
        }

        return DynamoValue.FromNumber(DynamoNumber.Add(a.Number, negate ? b.Number.Negate() : b.Number));
    }

    private Operand ParseSetOperand()
    {
        string head = Peek();
        if (_position + 1 < _tokens.Count && _tokens[_position + 1] == "(")
        {
            if (head.Equals("if_not_exists", StringComparison.Ordinal))
            {
                Next();
                Expect("(");
                int path = ParsePath();
                Expect(",");
                Operand fallback = ParseSetOperand();
                Expect(")");
                return (item, b) => b.Paths[path].Resolve(item) ?? fallback(item, b);
            }

            if (head.Equals("list_append", StringComparison.Ordinal))
            {
                Next();
                Expect("(");
                int aSlot = ValueSlotAhead();
                Operand a = ParseSetOperand();
                Expect(",");
                int cSlot = ValueSlotAhead();
                Operand c = ParseSetOperand();
                Expect(")");
                _valueChecks.Add(new ValueCheck("list_append", aSlot, cSlot));
                // A path's value is known only now: a missing one and one of another type get the service's words for
                // those (review: the model gave the words of a value placeholder's wrong type, found when it is read).
                return (item, b) => (a(item, b), c(item, b)) switch
                {
                    ({ Type: DynamoType.L } x, { Type: DynamoType.L } y) => DynamoValue.FromList(x.List!.Concat(y.List!).ToList()),
                    (null, _) or (_, null) => throw DynamoError.Validation("The provided expression refers to an attribute that does not exist in the item"),
                    _ => throw DynamoError.Validation("An operand in the update expression has an incorrect data type"),
                };
            }
        }

        return ParseOperand();
    }

    /// <summary>The slot the next operand's value will take when it is a <c>:value</c> (its index among the values used so far), else -1.</summary>
    private int ValueSlotAhead() => Peek().StartsWith(':') ? _uses.Count(u => !u.IsName) : -1;

    /// <summary>
    /// A check of the request's values that DynamoDB makes when it reads the expression, before the item: the type
    /// name of <c>attribute_type</c>, the value operands of <c>begins_with</c> (a string or a binary), of
    /// <c>list_append</c> (a list) and of <c>+</c> and <c>-</c> (a number), the bounds of <c>BETWEEN</c> when both are
    /// values (one type, in order).
    /// </summary>
    internal readonly record struct ValueCheck(string Function, int First, int Second)
    {
        private const string ValidTypes = "{B,NULL,SS,BOOL,L,BS,N,NS,S,M}";

        public void Apply(DynamoValue[] values, string kind)
        {
            switch (Function)
            {
                case "attribute_type":
                    {
                        DynamoValue type = values[First];
                        if (type.Type != DynamoType.S)
                        {
                            throw Refused(kind, $"Incorrect operand type for operator or function; operator or function: attribute_type, operand type: {type.Type}");
                        }

                        if (!Enum.TryParse(type.Text, ignoreCase: false, out DynamoType named) || named.ToString() != type.Text)
                        {
                            throw Refused(kind, $"Invalid attribute type name found; type: {type.Text}, valid types: {ValidTypes}");
                        }

                        break;
                    }

                case "begins_with" or "list_append" or "+" or "-":
                    foreach (int slot in (int[])[First, Second])
                    {
                        DynamoType type = slot < 0 ? DynamoType.NULL : values[slot].Type;
                        bool fits = Function switch
                        {
                            "begins_with" => type is DynamoType.S or DynamoType.B,
                            "list_append" => type == DynamoType.L,
                            _ => type == DynamoType.N,
                        };
                        if (slot >= 0 && !fits)
                        {
                            throw Refused(kind, $"Incorrect operand type for operator or function; operator or function: {Function}, operand type: {type}");
                        }
                    }

                    break;

                default:
                    {
                        DynamoValue low = values[First], high = values[Second];
                        if (low.Type != high.Type)
                        {
                            throw Refused(kind, $"The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {{{low.Type}:{Render(low)}}}, upper bound operand: AttributeValue: {{{high.Type}:{Render(high)}}}");
                        }

                        if (low.Type is DynamoType.S or DynamoType.N or DynamoType.B && DynamoValue.CompareScalars(low, high) > 0)
                        {
                            throw Refused(kind, $"The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {{{low.Type}:{Render(low)}}}, upper bound operand: AttributeValue: {{{high.Type}:{Render(high)}}}");
                        }

                        break;
                    }
            }
        }

        private static DynamoError Refused(string kind, string message) => DynamoError.Validation($"Invalid {kind}: {message}");

        /// <summary>A value as the server's message shows it: its text, a set's members joined by commas.</summary>
        private static string Render(DynamoValue v) => v.Type switch
        {
            DynamoType.S or DynamoType.N => v.Text!,
            DynamoType.B => Convert.ToBase64String(v.Bytes!),
            DynamoType.BOOL => v.Bool ? "true" : "false",
            DynamoType.NULL => "true",
            DynamoType.SS or DynamoType.NS => string.Join(",", v.Set!.Select(m => m.Text)),
            DynamoType.BS => string.Join(",", v.Set!.Select(m => Convert.ToBase64String(m.Bytes!))),
            DynamoType.L => string.Join(",", v.List!.Select(_ => "[object Object]")),
            _ => "[object Object]",
        };
    }

    /// <summary>Reads a <c>:value</c> placeholder; its slot in the binding's values.</summary>
    private int ParseValueRef()
    {
        string token = Next();
        if (!token.StartsWith(':') || token.Length < 2)
        {
            throw Syntax("Syntax error; token: \"" + token + "\"");
        }

        return Use(isName: false, token);
    }

    /// <summary>Reads a document path; its slot in the binding's paths.</summary>
    private int ParsePath()
    {
        var segments = new List<object> { ParseName() };
        while (true)
        {
            if (TryTake("."))
            {
                segments.Add(ParseName());
            }
            else if (TryTake("["))
            {
                string index = Next();
                if (!int.TryParse(index, NumberStyles.None, CultureInfo.InvariantCulture, out int i))
                {
                    throw Syntax("Syntax error; token: \"" + index + "\"");
                }

                Expect("]");
                segments.Add(i);
            }
            else
            {
                _paths.Add(new PathTemplate(segments));
                return _paths.Count - 1;
            }
        }
    }

    /// <summary>An attribute name, or a <c>#name</c> placeholder's slot.</summary>
    private object ParseName()
    {
        string token = Next();
        if (token.StartsWith('#') && token.Length > 1)
        {
            return new PathTemplate.NameSlot(Use(isName: true, token));
        }

        if (token.Length == 0 || !(char.IsLetter(token[0]) || token[0] == '_'))
        {
            throw Syntax("Syntax error; token: \"" + token + "\"");
        }

        if (DynamoReservedWords.Contains(token))
        {
            Defer("reserved", "Attribute name is a reserved keyword; reserved keyword: " + token);
        }

        return token;
    }

    /// <summary>Records a placeholder use, in parse order; its slot among the names or the values.</summary>
    private int Use(bool isName, string token)
    {
        int slot = _uses.Count(u => u.IsName == isName);
        _uses.Add((isName, token));
        return slot;
    }
}

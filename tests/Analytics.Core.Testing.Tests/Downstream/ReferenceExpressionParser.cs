using System.Globalization;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The expression parser as it was before parsed expressions were reused across requests (each request parsed its
/// expressions anew, capturing the placeholder values): the reference the reusing parser must agree with, error for
/// error. Kept verbatim but for its name.
/// </summary>
internal sealed class ReferenceExpressionParser
{
    private readonly List<string> _tokens;
    private readonly ExpressionContext _context;
    private readonly string _text;
    private int _position;

    private ReferenceExpressionParser(string text, ExpressionContext context)
    {
        _text = text;
        _context = context;
        _tokens = Tokenize(text, context.Kind);
    }

    public delegate bool Condition(IReadOnlyDictionary<string, DynamoValue> item);

    private delegate DynamoValue? Operand(IReadOnlyDictionary<string, DynamoValue> item);

    public static Condition ParseCondition(string text, ExpressionContext context, string kind)
    {
        context.Kind = kind;
        var parser = new ReferenceExpressionParser(text, context);
        Condition condition = parser.ParseOr();
        parser.ExpectEnd();
        return condition;
    }

    /// <summary>Parses an update expression into an action that rewrites a copy of the item.</summary>
    public static Action<Dictionary<string, DynamoValue>> ParseUpdate(string text, ExpressionContext context, out List<DocumentPath> updatedPaths)
    {
        context.Kind = "UpdateExpression";
        var parser = new ReferenceExpressionParser(text, context);
        var actions = new List<Action<Dictionary<string, DynamoValue>>>();
        var paths = new List<DocumentPath>();
        var seenClauses = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        while (!parser.AtEnd)
        {
            string clause = parser.Next().ToUpperInvariant();
            if (!seenClauses.Add(clause))
            {
                throw parser.Syntax("The \"" + clause + "\" section can only be used once in an update expression;");
            }

            do
            {
                DocumentPath path = parser.ParsePath();
                paths.Add(path);
                switch (clause)
                {
                    case "SET":
                        parser.Expect("=");
                        Operand value = parser.ParseSetValue();
                        actions.Add(item => SetPath(item, path, value(item) ?? throw DynamoError.Validation("The provided expression refers to an attribute that does not exist in the item")));
                        break;
                    case "REMOVE":
                        actions.Add(item => RemovePath(item, path));
                        break;
                    case "ADD":
                        DynamoValue add = parser.ParseValueRef();
                        actions.Add(item => SetPath(item, path, Add(path.Resolve(item), add)));
                        break;
                    case "DELETE":
                        DynamoValue delete = parser.ParseValueRef();
                        actions.Add(item =>
                        {
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
                        });
                        break;
                    default:
                        throw parser.Syntax("Syntax error; token: \"" + clause + "\"");
                }
            }
            while (parser.TryTake(","));
        }

        if (actions.Count == 0)
        {
            throw DynamoError.Validation("Invalid UpdateExpression: The expression can not be empty;");
        }

        for (int i = 0; i < paths.Count; i++)
        {
            for (int j = 0; j < i; j++)
            {
                if (Overlaps(paths[i], paths[j]))
                {
                    throw DynamoError.Validation($"Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [{paths[j]}], path two: [{paths[i]}]");
                }
            }
        }

        updatedPaths = paths;
        return item =>
        {
            foreach (Action<Dictionary<string, DynamoValue>> action in actions)
            {
                action(item);
            }
        };
    }

    private bool AtEnd => _position >= _tokens.Count;

    private static bool Overlaps(DocumentPath a, DocumentPath b)
    {
        int n = Math.Min(a.Segments.Count, b.Segments.Count);
        for (int i = 0; i < n; i++)
        {
            if (!a.Segments[i].Equals(b.Segments[i]))
            {
                return false;
            }
        }

        return true;
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

    private static string Describe(DynamoType type) => type switch
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

    private static void RemovePath(Dictionary<string, DynamoValue> item, DocumentPath path)
    {
        if (path.Segments.Count == 1)
        {
            item.Remove(path.Head);
            return;
        }

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

    private static List<string> Tokenize(string text, string kind)
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

    private DynamoError Syntax(string message) => DynamoError.Validation($"Invalid {_context.Kind}: {message}");

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

    private Condition ParseOr()
    {
        Condition left = ParseAnd();
        while (TryTake("OR"))
        {
            Condition l = left, r = ParseAnd();
            left = item => l(item) || r(item);
        }

        return left;
    }

    private Condition ParseAnd()
    {
        Condition left = ParseNot();
        while (TryTake("AND"))
        {
            Condition l = left, r = ParseNot();
            left = item => l(item) && r(item);
        }

        return left;
    }

    private Condition ParseNot()
    {
        if (TryTake("NOT"))
        {
            Condition inner = ParseNot();
            return item => !inner(item);
        }

        return ParsePrimary();
    }

    private Condition ParsePrimary()
    {
        if (TryTake("("))
        {
            Condition inner = ParseOr();
            Expect(")");
            return inner;
        }

        string head = Peek();
        if (_position + 1 < _tokens.Count && _tokens[_position + 1] == "(")
        {
            switch (head.ToLowerInvariant())
            {
                case "attribute_exists":
                case "attribute_not_exists":
                    {
                        Next();
                        Expect("(");
                        DocumentPath path = ParsePath();
                        Expect(")");
                        bool exists = head.Equals("attribute_exists", StringComparison.OrdinalIgnoreCase);
                        return item => (path.Resolve(item) is not null) == exists;
                    }

                case "attribute_type":
                    {
                        Next();
                        Expect("(");
                        DocumentPath path = ParsePath();
                        Expect(",");
                        DynamoValue type = ParseValueRef();
                        Expect(")");
                        return item => path.Resolve(item) is { } v && type.Type == DynamoType.S && v.Type.ToString() == type.Text;
                    }

                case "begins_with":
                    {
                        Next();
                        Expect("(");
                        Operand a = ParseOperand();
                        Expect(",");
                        Operand b = ParseOperand();
                        Expect(")");
                        return item => a(item) is { } x && b(item) is { } y && x.Type == y.Type &&
                            (x.Type == DynamoType.S ? x.Text!.StartsWith(y.Text!, StringComparison.Ordinal) : x.Type == DynamoType.B && x.Bytes!.AsSpan().StartsWith(y.Bytes));
                    }

                case "contains":
                    {
                        Next();
                        Expect("(");
                        Operand a = ParseOperand();
                        Expect(",");
                        Operand b = ParseOperand();
                        Expect(")");
                        return item => a(item) is { } x && b(item) is { } y && Contains(x, y);
                    }
            }
        }

        Operand left = ParseOperand();
        if (TryTake("BETWEEN"))
        {
            Operand low = ParseOperand();
            Expect("AND");
            Operand high = ParseOperand();
            return item => left(item) is { } v && low(item) is { } lo && high(item) is { } hi &&
                DynamoValue.CompareScalars(v, lo) >= 0 && DynamoValue.CompareScalars(v, hi) <= 0;
        }

        if (TryTake("IN"))
        {
            Expect("(");
            var options = new List<Operand> { ParseOperand() };
            while (TryTake(","))
            {
                options.Add(ParseOperand());
            }

            Expect(")");
            return item => left(item) is { } v && options.Any(o => v.Equals(o(item)));
        }

        string op = Next();
        Operand right = ParseOperand();
        return op switch
        {
            "=" => item => left(item) is { } a && a.Equals(right(item)),
            "<>" => item => !(left(item) is { } a && a.Equals(right(item))),
            "<" => item => Compare(left(item), right(item)) is < 0,
            "<=" => item => Compare(left(item), right(item)) is <= 0,
            ">" => item => Compare(left(item), right(item)) is > 0,
            ">=" => item => Compare(left(item), right(item)) is >= 0,
            _ => throw Syntax("Syntax error; token: \"" + op + "\""),
        };
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
        if (head.StartsWith(':'))
        {
            DynamoValue value = ParseValueRef();
            return _ => value;
        }

        if (head.Equals("size", StringComparison.OrdinalIgnoreCase) && _position + 1 < _tokens.Count && _tokens[_position + 1] == "(")
        {
            Next();
            Expect("(");
            DocumentPath path = ParsePath();
            Expect(")");
            return item => path.Resolve(item) is { } v ? DynamoValue.FromNumber(DynamoNumber.Parse(SizeOf(v).ToString(CultureInfo.InvariantCulture))) : null;
        }

        DocumentPath p = ParsePath();
        return item => p.Resolve(item);
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
        Operand first = ParseSetOperand();
        if (TryTake("+"))
        {
            Operand second = ParseSetOperand();
            return item => Arithmetic(first(item), second(item), negate: false);
        }

        if (TryTake("-"))
        {
            Operand second = ParseSetOperand();
            return item => Arithmetic(first(item), second(item), negate: true);
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
            if (head.Equals("if_not_exists", StringComparison.OrdinalIgnoreCase))
            {
                Next();
                Expect("(");
                DocumentPath path = ParsePath();
                Expect(",");
                Operand fallback = ParseSetOperand();
                Expect(")");
                return item => path.Resolve(item) ?? fallback(item);
            }

            if (head.Equals("list_append", StringComparison.OrdinalIgnoreCase))
            {
                Next();
                Expect("(");
                Operand a = ParseSetOperand();
                Expect(",");
                Operand b = ParseSetOperand();
                Expect(")");
                return item => a(item) is { Type: DynamoType.L } x && b(item) is { Type: DynamoType.L } y
                    ? DynamoValue.FromList(x.List!.Concat(y.List!).ToList())
                    : throw DynamoError.Validation("Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: list_append");
            }
        }

        return ParseOperand();
    }

    private DynamoValue ParseValueRef()
    {
        string token = Next();
        if (!token.StartsWith(':') || token.Length < 2)
        {
            throw Syntax("Syntax error; token: \"" + token + "\"");
        }

        return _context.Value(token);
    }

    private DocumentPath ParsePath()
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
                return new DocumentPath(segments);
            }
        }
    }

    private string ParseName()
    {
        string token = Next();
        if (token.StartsWith('#') && token.Length > 1)
        {
            return _context.Name(token);
        }

        if (token.Length == 0 || !(char.IsLetter(token[0]) || token[0] == '_'))
        {
            throw Syntax("Syntax error; token: \"" + token + "\"");
        }

        if (DynamoReservedWords.Contains(token))
        {
            throw Syntax("Attribute name is a reserved keyword; reserved keyword: " + token);
        }

        return token;
    }
}

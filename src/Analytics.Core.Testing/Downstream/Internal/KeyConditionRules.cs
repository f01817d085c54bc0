namespace Analytics.Core.Testing;

/// <summary>
/// What DynamoDB accepts as a Query's <c>KeyConditionExpression</c>, checked after the expression parsed as a condition:
/// an equality on the partition key, and at most one condition on the sort key (<c>=</c>, <c>&lt;</c>, <c>&lt;=</c>,
/// <c>&gt;</c>, <c>&gt;=</c>, <c>BETWEEN</c>, <c>begins_with</c>) joined to it by <c>AND</c>, each on the key attribute
/// itself, with values of the key's type. Anything else is refused with the service's message (as the local DynamoDB
/// server gives it; <c>KeyConditionCrossCheckTests</c> compares the two), where a general condition would have read the
/// whole table as a filter and answered.
/// </summary>
internal static class KeyConditionRules
{
    /// <summary>One node of the expression: a path, a value placeholder, a function call or an operator with its operands.</summary>
    private sealed record Node(string Kind, string? Name = null, IReadOnlyList<Node>? Args = null, int Segments = 0);

    /// <summary>A condition on one key attribute: its operator (<c>=</c>, <c>&lt;</c>, ..., <c>between</c>, <c>begins_with</c>) and its value placeholders.</summary>
    internal readonly record struct KeyCondition(string Operator, IReadOnlyList<string> Values);

    /// <summary>
    /// Refuses a key condition DynamoDB refuses (<see cref="DynamoError"/>, a ValidationException); else the
    /// conditions per key attribute name.
    /// </summary>
    /// <param name="text">The expression, already parsed as a condition (its syntax, names and values are valid).</param>
    /// <param name="context">Its names and values.</param>
    /// <param name="hashKey">The table's partition key.</param>
    /// <param name="hashType">Its type (S, N or B).</param>
    /// <param name="rangeKey">The table's sort key, or null.</param>
    /// <param name="rangeType">Its type.</param>
    public static Dictionary<string, KeyCondition> Check(string text, ExpressionContext context, string hashKey, DynamoType hashType, string? rangeKey, DynamoType? rangeType)
    {
        List<string> tokens = DynamoExpressionParser.Tokenize(text, "KeyConditionExpression");
        int at = 0;
        Node root = ParseOr(tokens, ref at, context);
        var conditions = new Dictionary<string, KeyCondition>(StringComparer.Ordinal);
        if (CheckNode(root, conditions) is { } shape)
        {
            throw DynamoError.Validation(shape);
        }

        if (conditions.Count is not (1 or 2))
        {
            throw DynamoError.Validation("Conditions can be of length 1 or 2 only");
        }

        // The key schema in order, partition key first, as the service checks it.
        (string Key, DynamoType Type, bool IsHash)[] schema = rangeKey is null
            ? [(hashKey, hashType, true)]
            : [(hashKey, hashType, true), (rangeKey, rangeType!.Value, false)];
        foreach ((string key, DynamoType type, bool isHash) in schema)
        {
            if (isHash && rangeKey is null && conditions.Count > 1)
            {
                throw DynamoError.Validation("Query key condition not supported");
            }

            if (!conditions.TryGetValue(key, out KeyCondition condition))
            {
                if (isHash || conditions.Count > 1)
                {
                    throw DynamoError.Validation("Query condition missed key schema element: " + key);
                }

                continue;
            }

            foreach (string placeholder in condition.Values)
            {
                if (context.Value(placeholder).Type != type)
                {
                    throw DynamoError.Validation("One or more parameter values were invalid: Condition parameter type does not match schema type");
                }
            }

            if (isHash && condition.Operator != "=")
            {
                throw DynamoError.Validation("Query key condition not supported");
            }
        }

        return conditions;
    }

    /// <summary>
    /// Refuses a Query's <c>FilterExpression</c> that names a key attribute anywhere (a path that starts at it), as
    /// DynamoDB does: the partition key is reported before the sort key.
    /// </summary>
    /// <param name="text">The filter, already parsed as a condition.</param>
    /// <param name="context">Its names and values.</param>
    /// <param name="hashKey">The table's partition key.</param>
    /// <param name="rangeKey">The table's sort key, or null.</param>
    public static void CheckFilter(string text, ExpressionContext context, string hashKey, string? rangeKey)
    {
        List<string> tokens = DynamoExpressionParser.Tokenize(text, "FilterExpression");
        int at = 0;
        var named = new HashSet<string>(StringComparer.Ordinal);
        Collect(ParseOr(tokens, ref at, context), named);
        foreach (string? key in (ReadOnlySpan<string?>)[hashKey, rangeKey])
        {
            if (key is not null && named.Contains(key))
            {
                throw DynamoError.Validation("Filter Expression can only contain non-primary key attributes: Primary key attribute: " + key);
            }
        }

        static void Collect(Node node, HashSet<string> named)
        {
            if (node.Kind == "path")
            {
                named.Add(node.Name!);
            }

            foreach (Node arg in node.Args ?? [])
            {
                Collect(arg, named);
            }
        }
    }

    /// <summary>The service's first objection to the shape of <paramref name="node"/>, or null; records each key's condition.</summary>
    private static string? CheckNode(Node node, Dictionary<string, KeyCondition> conditions)
    {
        switch (node.Kind)
        {
            case "OR" or "NOT" or "IN" or "<>":
                return "Invalid operator used in KeyConditionExpression: " + node.Kind;
            case "function" when node.Name is "attribute_exists" or "attribute_not_exists" or "attribute_type" or "contains":
                return "Invalid operator used in KeyConditionExpression: " + node.Name;
            case "function" when node.Name == "size":
                return "KeyConditionExpressions cannot contain nested operations";
            case "BETWEEN" when node.Args![0].Kind != "path":
                return "Invalid condition in KeyConditionExpression: BETWEEN operator must have the key attribute as its first operand";
            case "function" when node.Name == "begins_with" && node.Args![0].Kind != "path":
                return "Invalid condition in KeyConditionExpression: begins_with operator must have the key attribute as its first operand";
        }

        if (node.Args is not { } args)
        {
            return null;
        }

        Node? path = null;
        int pathIndex = 0;
        for (int i = 0; i < args.Count; i++)
        {
            if (args[i].Kind == "path")
            {
                if (path is not null)
                {
                    return "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition";
                }

                if (args[i].Segments > 1)
                {
                    return "KeyConditionExpressions cannot have conditions on nested attributes";
                }

                path = args[i];
                pathIndex = i;
            }
            else if (args[i].Kind != "value" && CheckNode(args[i], conditions) is { } inner)
            {
                return inner;
            }
        }

        if (node.Kind == "AND")
        {
            return null;
        }

        if (path is null)
        {
            return "Invalid condition in KeyConditionExpression: No key attribute specified";
        }

        if (conditions.ContainsKey(path.Name!))
        {
            return "KeyConditionExpressions must only contain one condition per key";
        }

        // A value on the left of a comparison: the comparison as seen from the attribute.
        string op = node.Kind == "function" ? node.Name! : node.Kind;
        if (pathIndex != 0)
        {
            op = op switch { "<" => ">", "<=" => ">=", ">" => "<", ">=" => "<=", _ => op };
        }

        conditions[path.Name!] = new KeyCondition(op, [.. args.Where(a => a.Kind == "value").Select(a => a.Name!)]);
        return null;
    }

    private static Node ParseOr(List<string> tokens, ref int at, ExpressionContext context)
    {
        Node left = ParseAnd(tokens, ref at, context);
        while (Take(tokens, ref at, "OR"))
        {
            left = new Node("OR", Args: [left, ParseAnd(tokens, ref at, context)]);
        }

        return left;
    }

    private static Node ParseAnd(List<string> tokens, ref int at, ExpressionContext context)
    {
        Node left = ParseNot(tokens, ref at, context);
        while (Take(tokens, ref at, "AND"))
        {
            left = new Node("AND", Args: [left, ParseNot(tokens, ref at, context)]);
        }

        return left;
    }

    private static Node ParseNot(List<string> tokens, ref int at, ExpressionContext context) =>
        Take(tokens, ref at, "NOT") ? new Node("NOT", Args: [ParseNot(tokens, ref at, context)]) : ParsePrimary(tokens, ref at, context);

    private static Node ParsePrimary(List<string> tokens, ref int at, ExpressionContext context)
    {
        if (Take(tokens, ref at, "("))
        {
            Node inner = ParseOr(tokens, ref at, context);
            Take(tokens, ref at, ")");
            return inner;
        }

        Node left = ParseOperand(tokens, ref at, context);
        if (Take(tokens, ref at, "BETWEEN"))
        {
            Node low = ParseOperand(tokens, ref at, context);
            Take(tokens, ref at, "AND");
            return new Node("BETWEEN", Args: [left, low, ParseOperand(tokens, ref at, context)]);
        }

        if (Take(tokens, ref at, "IN"))
        {
            Take(tokens, ref at, "(");
            var options = new List<Node> { left, ParseOperand(tokens, ref at, context) };
            while (Take(tokens, ref at, ","))
            {
                options.Add(ParseOperand(tokens, ref at, context));
            }

            Take(tokens, ref at, ")");
            return new Node("IN", Args: options);
        }

        if (at < tokens.Count && tokens[at] is "=" or "<>" or "<" or "<=" or ">" or ">=")
        {
            string op = tokens[at++];
            return new Node(op, Args: [left, ParseOperand(tokens, ref at, context)]);
        }

        // A function used as a condition (begins_with, attribute_exists, ...).
        return left;
    }

    private static Node ParseOperand(List<string> tokens, ref int at, ExpressionContext context)
    {
        string head = tokens[at];
        if (head.StartsWith(':'))
        {
            at++;
            return new Node("value", head);
        }

        if (at + 1 < tokens.Count && tokens[at + 1] == "(")
        {
            at += 2;
            var args = new List<Node>();
            if (!Take(tokens, ref at, ")"))
            {
                do
                {
                    args.Add(ParseOperand(tokens, ref at, context));
                }
                while (Take(tokens, ref at, ","));
                Take(tokens, ref at, ")");
            }

            return new Node("function", head, args);
        }

        at++;
        string name = head.StartsWith('#') ? context.Name(head) : head;
        int segments = 1;
        while (at < tokens.Count && tokens[at] is "." or "[")
        {
            at += tokens[at] == "." ? 2 : 3; // ". name" or "[ n ]"
            segments++;
        }

        return new Node("path", name, Segments: segments);
    }

    private static bool Take(List<string> tokens, ref int at, string token)
    {
        if (at < tokens.Count && string.Equals(tokens[at], token, StringComparison.OrdinalIgnoreCase))
        {
            at++;
            return true;
        }

        return false;
    }
}

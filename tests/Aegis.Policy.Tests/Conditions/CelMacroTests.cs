namespace Aegis.Policy.Tests.Conditions;

/// <summary>has, all, exists, exists_one, map and filter, expanded at parse, with cel-spec's error rules.</summary>
public class CelMacroTests
{
    [Theory]
    [InlineData("[1, 2, 3].all(x, x > 0) && ![1, 2, 0].all(x, x > 0) && [].all(x, x > 0)", "true")]
    [InlineData("[1, 2, 3].exists(x, x == 2) && ![].exists(x, x > 0) && ![1, 2, 3].exists(e, e > 3)", "true")]
    [InlineData("[1, 2, 2].exists_one(i, i < 2) && ![1, 2, 3, 4].exists_one(n, n % 2 == 0) && ![].exists_one(a, a == 7)", "true")]
    [InlineData("[1, 2, 3].filter(x, x > 1) == [2, 3] && [1].filter(n, n > 3) == []", "true")]
    [InlineData("[1, 2, 3].map(x, x * 2) == [2, 4, 6] && [1, 2, 3, 4].map(n, n % 2 == 0, n * 2) == [4, 8] && [].map(n, n / 2) == []", "true")]
    [InlineData("{'a': 1, 'b': 2}.all(k, k != 'c') && {'a': 1, 'b': 2}.map(k, k) == ['a', 'b'] && {'John': 'smart'}.filter(k, k == 'John') == ['John']", "true")]
    [InlineData("{6: 'six', 7: 'seven', 8: 'eight'}.exists_one(foo, foo % 5 == 2) && {'key': 1, 1: 21}.exists(k, k != 2)", "true")]
    [InlineData("[1, 'foo', 3].exists(e, e != '1') && ![1, 'foo', 3].exists(e, e == '10') && ![1, 'foo', 3].all(e, e == 1)", "true")]
    // errors: all/exists absorb them like && and ||; exists_one, map and filter do not
    [InlineData("[1, 2, 3].exists(e, e / 0 == 17)", "error: division by zero")]
    [InlineData("[1, 2, 3].all(e, e / 0 != 17)", "error: division by zero")]
    [InlineData("[1, 2, 3].all(e, 6 / (2 - e) == 6)", "false")]
    [InlineData("[0, 1, 2].exists(e, 6 / e == 3)", "true")]
    [InlineData("[1, 'foo', 3].all(e, e % 2 == 1)", "error: no such overload: _%_(string, int)")]
    [InlineData("[3, 2, 1, 0].exists_one(n, 12 / n > 1)", "error: division by zero")]
    [InlineData("[2, 1, 0].map(n, 4 / n) == []", "error: division by zero")]
    [InlineData("[3, 2, 1, 0].filter(n, 12 / n > 4) == []", "error: division by zero")]
    [InlineData("[].exists(x, 1 / 0 == 1)", "false")]
    [InlineData("args.tags.exists(t, t)", "error: no such overload: exists(string)")]
    [InlineData("[1, 2].exists(x, x)", "compile: the predicate of exists() must be a bool, got int")]
    [InlineData("1.exists(x, true)", "compile: expression of type 'int' cannot be the range of a comprehension")]
    [InlineData("args.amount.exists(x, true)", "error: no such overload: exists(double)")]
    // over JSON arguments and declared variables
    [InlineData("args.items.exists(i, i.qty == 0 && i.sku.startsWith('B')) && args.items.all(i, has(i.sku)) && args.items.map(i, i.qty) == [2.0, 0.0]", "true")]
    [InlineData("args.items.all(i, i.price > 0.0)", "error: no such key: price")]
    [InlineData("args.items.exists(i, i.qty > 1.0) || args.items.exists(i, i.price > 0.0)", "true")]
    [InlineData("args.nested.exists(k, k == 'name') && 'pay' in agent.scopes && agent.scopes.exists(s, s == 'read')", "true")]
    [InlineData("request.headers.all(h, h.startsWith('x-')) && request.headers.exists_one(h, request.headers[h] == 'prod')", "true")]
    // has()
    [InlineData("has(args.amount) && !has(args.nope) && has(args.nested.name) && has(args.none) && has({'a': 1}.a) && !has({}.a)", "true")]
    [InlineData("has(agent.id) && has(request.headers.`x-env`)", "compile: unexpected character '`'")]
    [InlineData("has(agent.nope)", "compile: undefined field 'nope' of agent")]
    [InlineData("has(args)", "compile: has() needs one field selection")]
    [InlineData("has(args.nested.list[0])", "compile: has() needs one field selection")]
    [InlineData("has(args.amount.x)", "error: type 'double' does not support field selection")]
    // names: loop variables shadow variables; a leading dot reaches the variable
    [InlineData("[1].exists(args, args == 1) && [1].exists(args, .args.amount == 5.0)", "true")]
    [InlineData("[[1, 2], [3]].all(l, l.exists(x, x > 0)) && [0, 1].all(x, [0, 1].all(y, x + y >= 0))", "true")]
    [InlineData("['signer'].filter(signer, ['artifact'].all(artifact, true)) == ['signer']", "true")]
    [InlineData("[1].map(1, 2) == [2]", "compile: the first argument must be a simple name")]
    [InlineData("[1, 2].exists(x) == true", "compile: undeclared reference to function 'exists'")]
    public void Evaluate_Macros_FollowCelSpec(string expression, string expected) => CelCases.Check(expression, expected);

    [Fact]
    public void Evaluate_NestedLoopsOverLargeAgentInput_StopAtTheIterationBudget()
    {
        // 1,000 x 1,000 iterations would be an agent-chosen CPU cost; the budget turns it into a condition error.
        var numbers = string.Join(", ", Enumerable.Range(0, 1000));
        CelCases.Check("args.n.all(a, args.n.all(b, true))", "error: evaluation cost limit exceeded", $$"""{"n": [{{numbers}}]}""");
        CelCases.Check("args.n.all(a, true) && args.n.exists(b, b == 999.0)", "true", $$"""{"n": [{{numbers}}]}""");
    }
}

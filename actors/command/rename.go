package command

import "castkv/actors/wire"

// evalRename evaluates RENAME, RENAMENX and COPY as Redis 7's
// renameGenericCommand and copyCommand do: the destination takes the
// source's value and its expiry.
func evalRename(c *Command, getv func([]byte) (Value, error)) (*wire.Reply, []Write, error) {
	src, dst := c.Keys[0], c.Keys[1]
	same := string(src) == string(dst)
	if c.Kind == Copy && same {
		return Error("ERR source and destination objects are the same"), nil, nil
	}
	v, err := getv(src)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case !v.Found && c.Kind == Copy:
		return Int(0), nil, nil
	case !v.Found:
		return Error("ERR no such key"), nil, nil
	case same && c.Name == "renamenx":
		return Int(0), nil, nil
	case same:
		return OK(), nil, nil
	}
	if c.Name == "renamenx" || c.Kind == Copy && !c.XX {
		d, err := getv(dst)
		if err != nil {
			return nil, nil, err
		}
		if d.Found {
			return Int(0), nil, nil
		}
	}
	writes := []Write{{Key: dst, Value: v.Bytes, ExpireMs: v.ExpireMs}}
	switch {
	case c.Kind == Copy:
		return Int(1), writes, nil
	case c.Name == "renamenx":
		return Int(1), append(writes, Write{Key: src, Delete: true}), nil
	}
	return OK(), append(writes, Write{Key: src, Delete: true}), nil
}

package cpu

// cld executes cld.
func (c *CPU) cld(in *inst) uint8 {
	c.rflags &^= FlagDF
	return stNext
}

// std executes std.
func (c *CPU) std(in *inst) uint8 {
	c.rflags |= FlagDF
	return stNext
}

// cli executes cli.
func (c *CPU) cli(in *inst) uint8 {
	c.rflags &^= FlagIF
	return stNext
}

// sti executes sti.
func (c *CPU) sti(in *inst) uint8 {
	c.rflags |= FlagIF
	return stNext
}

// clc executes clc.
func (c *CPU) clc(in *inst) uint8 {
	c.setArithFlags(c.flags() &^ FlagCF)
	return stNext
}

// stc executes stc.
func (c *CPU) stc(in *inst) uint8 {
	c.setArithFlags(c.flags() | FlagCF)
	return stNext
}

// cmc executes cmc.
func (c *CPU) cmc(in *inst) uint8 {
	c.setArithFlags(c.flags() ^ FlagCF)
	return stNext
}

// lahf executes lahf.
func (c *CPU) lahf(in *inst) uint8 {
	c.setReg(16, 1, c.flags()&0xd5|flagsFixed)
	return stNext
}

// sahf executes sahf.
func (c *CPU) sahf(in *inst) uint8 {
	ah := c.getReg(16, 1)
	c.setArithFlags(c.flags()&^0xd5 | ah&0xd5 | c.flags()&FlagOF)
	return stNext
}
